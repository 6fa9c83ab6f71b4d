defmodule Chunker.PipelineTest do
  # Not async: some tests change process-wide settings (metrics, config).
  use ExUnit.Case, async: false

  import Bitwise
  alias Chunker.Pipeline

  doctest Chunker.Pipeline
  doctest Chunker.Cache
  doctest Chunker.Config

  @small [min_size: 64, avg_size: 256, max_size: 1024]

  # Random bytes with repeated runs, so some chunks repeat.
  defp input(size) do
    block = :rand.bytes(min(size, 3000))

    Stream.repeatedly(fn ->
      if :rand.uniform(3) == 1, do: block, else: :rand.bytes(:rand.uniform(4000))
    end)
    |> Enum.reduce_while([], fn piece, acc ->
      if IO.iodata_length(acc) >= size, do: {:halt, acc}, else: {:cont, [acc, piece]}
    end)
    |> IO.iodata_to_binary()
    |> binary_part(0, size)
  end

  defp pieces(data, max_piece) do
    Stream.unfold(data, fn
      <<>> ->
        nil

      rest ->
        n = min(:rand.uniform(max_piece), byte_size(rest))
        <<piece::binary-size(n), rest::binary>> = rest
        {piece, rest}
    end)
  end

  defp decompress(%{compression: :none, compressed: c}), do: c
  defp decompress(%{compression: algo, compressed: c}), do: Chunker.Compress.decompress!(c, algo)

  defp rss_bytes do
    [_, resident | _] = File.read!("/proc/self/statm") |> String.split()
    String.to_integer(resident) * 4096
  end

  defp with_config(changes, fun) do
    old = Chunker.Config.get()
    Chunker.Config.put(Map.merge(old, changes))

    try do
      fun.()
    after
      Chunker.Config.put(old)
    end
  end

  describe "ingest/2 equals Chunker.chunk + the compression stage run sequentially" do
    test "random inputs, feed sizes, in-flight bounds and hashes" do
      :rand.seed(:exsss, {1, 2, 3})

      for i <- 1..40 do
        data = input(:rand.uniform(60_000) - 1)
        hash = Enum.random([:sha256, :blake3])

        {algo, level} =
          Enum.random([{:none, nil}, {:zstd, 1}, {:zstd, 3}, {:lz4, 1}, {:xz, 0}, {:bzip2, 1}])

        opts = @small ++ [hash: hash, compress: algo, level: level]
        max = :rand.uniform(20_000)

        source =
          case rem(i, 3) do
            0 -> data
            1 -> pieces(data, 5000)
            2 -> pieces(data, 100) |> Enum.to_list()
          end

        chunks = source |> Pipeline.ingest!(opts ++ [max_in_flight_bytes: max]) |> Enum.to_list()
        expected = Chunker.chunk!(data, @small ++ [hash: hash])

        assert Enum.map(chunks, &{&1.offset, &1.length, &1.hash}) ==
                 Enum.map(expected, &{&1.offset, &1.length, &1.hash}),
               "iteration #{i}"

        for c <- chunks do
          raw = binary_part(data, c.offset, c.length)
          assert decompress(c) == raw
          assert c.compression == algo and c.data == nil

          if algo != :none,
            do:
              assert(
                Chunker.Compress.decompress!(
                  Chunker.Compress.compress!(raw, algo, level: level),
                  algo
                ) == raw
              )
        end

        assert {:ok, sequential} = Pipeline.sequential(data, opts)
        assert sequential == chunks
      end
    end

    test "files, File.Stream and payloads" do
      path = Path.join(System.tmp_dir!(), "pipeline_test_#{System.unique_integer([:positive])}")
      data = input(300_000)
      File.write!(path, data)
      on_exit(fn -> File.rm(path) end)
      expected = Chunker.chunk!(data, @small) |> Enum.map(&{&1.offset, &1.length, &1.hash})

      for source <- [{:file, path}, File.stream!(path, [], 777)] do
        chunks =
          source
          |> Pipeline.ingest!(@small ++ [compress: :none, payloads: true])
          |> Enum.to_list()

        assert Enum.map(chunks, &{&1.offset, &1.length, &1.hash}) == expected
        assert Enum.all?(chunks, &(&1.data == binary_part(data, &1.offset, &1.length)))
      end
    end

    test "binaries are read in place: sub-binaries, tiny binaries, small slices" do
      big = input(200_000)

      for {data, slice} <- [
            {binary_part(big, 12_345, 150_000), 7_777},
            {binary_part(big, 5, 40), 4096},
            {"x", 1_048_576},
            {big, 4096}
          ] do
        chunks =
          with_config(%{read_slice_cap_bytes: slice}, fn ->
            data |> Pipeline.ingest!(@small ++ [compress: :zstd, level: 1]) |> Enum.to_list()
          end)

        assert Enum.map(chunks, &{&1.offset, &1.length, &1.hash}) ==
                 Enum.map(Chunker.chunk!(data, @small), &{&1.offset, &1.length, &1.hash})

        assert Enum.map_join(chunks, &decompress/1) == data
      end
    end

    test "files are read by the native side: errors for missing, directories, unreadable, changing files" do
      dir = Path.join(System.tmp_dir!(), "pipeline_files_#{System.unique_integer([:positive])}")
      File.mkdir_p!(dir)
      on_exit(fn -> File.rm_rf(dir) end)
      opts = @small ++ [compress: :none]
      ingest = fn source -> source |> Pipeline.ingest!(opts) |> Enum.to_list() end

      assert_raise Chunker.Error, ~r/enoent/, fn -> ingest.({:file, Path.join(dir, "nope")}) end
      assert_raise Chunker.Error, ~r/eisdir/, fn -> ingest.({:file, dir}) end

      locked = Path.join(dir, "locked")
      File.write!(locked, "secret")
      File.chmod!(locked, 0o000)

      # Root reads anything: the permission bits do not apply to it.
      case File.read(locked) do
        {:error, :eacces} ->
          assert_raise Chunker.Error, ~r/eacces/, fn -> ingest.({:file, locked}) end

        {:ok, "secret"} ->
          assert [%{data: nil, length: 6}] = ingest.({:file, locked})
      end

      # Halting closes the file at once (not at the next garbage collection).
      big = Path.join(dir, "big")
      File.write!(big, input(300_000))
      fds = fn -> length(File.ls!("/proc/self/fd")) end
      open_before = fds.()

      for _ <- 1..50,
          do: assert([%{offset: 0}] = {:file, big} |> Pipeline.ingest!(opts) |> Enum.take(1))

      assert fds.() <= open_before + 2

      # A file that shrinks or grows while it is read.
      path = Path.join(dir, "changing")
      data = input(3 * 65_536)

      for {new, read} <- [{binary_part(data, 0, 1000), 65_536}, {data <> "more", 65_536}] do
        File.write!(path, data)

        result =
          with_config(%{read_slice_cap_bytes: 65_536}, fn ->
            try do
              {:file, path}
              |> Pipeline.ingest!(opts ++ [max_in_flight_bytes: 1024])
              |> Stream.each(fn c -> if c.offset == 0, do: File.write!(path, new) end)
              |> Stream.run()
            rescue
              e in Chunker.Error -> e.reason
            end
          end)

        if byte_size(new) < byte_size(data),
          do: assert(result == {:file_changed, {byte_size(data), read}}),
          else:
            assert({:file_changed, {size, over}} = result) &&
              assert(size == byte_size(data) and over == size + 1)
      end
    end

    test "default compression is zstd" do
      data = input(50_000)
      chunks = data |> Pipeline.ingest!(@small) |> Enum.to_list()
      assert Enum.all?(chunks, &(&1.compression == :zstd))
      assert Enum.map_join(chunks, &Chunker.Compress.decompress!(&1.compressed, :zstd)) == data
    end

    test "empty input" do
      assert Pipeline.ingest!(<<>>, compress: :none) |> Enum.to_list() == []
      assert Pipeline.ingest!(["", ""], compress: :none) |> Enum.to_list() == []
    end
  end

  describe ":known?" do
    setup do
      data = input(100_000)
      expected = Chunker.chunk!(data, @small)
      known = expected |> Enum.take_every(3) |> MapSet.new(& &1.hash)
      %{data: data, expected: expected, known: known}
    end

    test "a MapSet skips compressing known chunks", %{data: data, expected: e, known: known} do
      chunks =
        data |> Pipeline.ingest!(@small ++ [compress: :none, known?: known]) |> Enum.to_list()

      assert Enum.map(chunks, & &1.hash) == Enum.map(e, & &1.hash)

      for c <- chunks do
        if MapSet.member?(known, c.hash),
          do: assert({c.compressed, c.compression} == {nil, nil}),
          else: assert(decompress(c) == binary_part(data, c.offset, c.length))
      end
    end

    test "a function is asked once per chunk", %{data: data, expected: e, known: known} do
      me = self()

      fun = fn hash ->
        send(me, {:asked, hash})
        MapSet.member?(known, hash)
      end

      chunks =
        pieces(data, 3000)
        |> Pipeline.ingest!(@small ++ [compress: :none, known?: fun, max_in_flight_bytes: 4096])
        |> Enum.to_list()

      assert Enum.map(chunks, & &1.hash) == Enum.map(e, & &1.hash)

      assert Enum.count(chunks, &is_nil(&1.compressed)) ==
               Enum.count(e, &MapSet.member?(known, &1.hash))

      asked = for _ <- chunks, do: assert_received({:asked, _})
      assert length(asked) == length(e)
    end
  end

  describe "cancellation" do
    test "100 halted ingests leave no growing memory and no messages" do
      data = :rand.bytes(16 * 1_048_576)
      opts = [compress: :none, max_in_flight_bytes: 8 * 1_048_576]
      run = fn -> data |> Pipeline.ingest!(opts) |> Enum.take(1) end
      for _ <- 1..10, do: run.()
      :erlang.garbage_collect()
      before = rss_bytes()

      for _ <- 1..100 do
        assert [%Chunker.Chunk{offset: 0}] = run.()
      end

      :erlang.garbage_collect()
      Process.sleep(100)
      growth = rss_bytes() - before
      assert growth < 24 * 1_048_576, "RSS grew by #{growth} bytes"
      refute_received {:chunker_pipeline, _, _, _}
      refute_received {:chunker_pipeline, _, _, _, _}
    end

    test "a consumer that dies stops the work" do
      data = :rand.bytes(16 * 1_048_576)
      before = rss_bytes()

      for _ <- 1..20 do
        {pid, ref} =
          spawn_monitor(fn ->
            data
            |> Pipeline.ingest!(compress: :none, max_in_flight_bytes: 8 * 1_048_576)
            |> Enum.each(fn _ -> Process.sleep(:infinity) end)
          end)

        Process.sleep(5)
        Process.exit(pid, :kill)
        assert_receive {:DOWN, ^ref, :process, ^pid, :killed}
      end

      :erlang.garbage_collect()
      Process.sleep(200)
      growth = rss_bytes() - before
      assert growth < 32 * 1_048_576, "RSS grew by #{growth} bytes"
    end
  end

  describe "errors" do
    test "bad options are {:error, _} at ingest, bad sources raise" do
      assert {:error, {:invalid_options, {:max_size, _}}} = Pipeline.ingest("x", max_size: 3)
      assert {:error, {:invalid_options, {:level, _}}} = Pipeline.ingest("x", level: :high)

      assert {:error, {:invalid_options, {:level, "level 23 is not in 1..22 for zstd"}}} =
               Pipeline.ingest("x", level: 23)

      assert {:error, {:invalid_options, {:known?, _}}} =
               Pipeline.ingest("x", known?: [1], compress: :none)

      assert {:error, {:invalid_options, {:known?, _}}} =
               Pipeline.ingest("x", known?: MapSet.new(), hash: :none, compress: :none)

      assert {:error, {:invalid_options, {:max_in_flight_bytes, _}}} =
               Pipeline.ingest("x", max_in_flight_bytes: 0, compress: :none)

      assert {:error, {:invalid_options, {:bogus, _}}} = Pipeline.ingest("x", bogus: 1)
      assert_raise ArgumentError, ~r/expected a binary/, fn -> Pipeline.ingest(:nope) end
      assert_raise Chunker.Error, fn -> Pipeline.ingest!("x", max_size: 3) end

      assert_raise ArgumentError, ~r/enumerable of binaries/, fn ->
        Pipeline.ingest!(["ok", :bad], compress: :none) |> Enum.to_list()
      end

      assert_raise Chunker.Error, ~r/enoent/, fn ->
        Pipeline.ingest!({:file, "/nonexistent/x"}, compress: :none) |> Enum.to_list()
      end
    end
  end

  describe "batch APIs" do
    test "chunk_batch equals Chunker.chunk per item, parallel or not, with progress" do
      items = for _ <- 1..300, do: input(:rand.uniform(5000))

      for threshold <- [0, 1 <<< 40] do
        with_config(%{batch_parallel_threshold: threshold}, fn ->
          me = self()
          progress = fn done, total -> send(me, {:progress, done, total}) end

          assert {:ok, results} =
                   Pipeline.chunk_batch(items, @small ++ [progress: progress, payloads: true])

          assert results ==
                   Enum.map(items, &{:ok, Chunker.chunk!(&1, @small ++ [payloads: true])})

          assert_received {:progress, 256, 300}
          assert_received {:progress, 300, 300}
        end)
      end

      assert {:error, {:invalid_options, {:avg_size, _}}} =
               Pipeline.chunk_batch(["a"], avg_size: 1)

      assert_raise ArgumentError, fn -> Pipeline.chunk_batch(["a", 1]) end
    end

    test "batch_chunk_files: one result per path, a bad file fails only itself" do
      dir = Path.join(System.tmp_dir!(), "batch_files_#{System.unique_integer([:positive])}")
      File.mkdir_p!(dir)
      on_exit(fn -> File.rm_rf(dir) end)

      files =
        for i <- 1..5 do
          path = Path.join(dir, "f#{i}")
          File.write!(path, input(i * 7000))
          path
        end

      paths = List.insert_at(files, 2, Path.join(dir, "missing"))

      for threshold <- [0, 1 <<< 40] do
        with_config(%{batch_parallel_threshold: threshold}, fn ->
          assert {:ok, results} = Pipeline.batch_chunk_files(paths, @small)
          assert Enum.at(results, 2) == {:error, {:file, :enoent}}

          assert List.delete_at(results, 2) ==
                   Enum.map(files, &{:ok, Chunker.chunk!(File.read!(&1), @small)})
        end)
      end
    end
  end

  describe "cache" do
    test "ingest with a cache gives the same digests and hits on repeats" do
      cache = Chunker.Cache.new(max_entries: 1000)
      data = :binary.copy(:rand.bytes(4096), 50)
      opts = @small ++ [compress: :none, cache: cache]
      first = data |> Pipeline.ingest!(opts) |> Enum.map(& &1.hash)
      assert first == Enum.map(Chunker.chunk!(data, @small), & &1.hash)
      %{hits: h1, misses: m1} = Chunker.Cache.stats(cache)
      second = data |> Pipeline.ingest!(opts) |> Enum.map(& &1.hash)
      assert second == first
      %{hits: h2, misses: m2} = Chunker.Cache.stats(cache)
      assert m2 == m1 and h2 - h1 == length(first)
    end

    test "memory and entry bounds" do
      cache = Chunker.Cache.new(max_entries: 10, max_memory_bytes: 5 * (1000 + 96))
      for i <- 1..50, do: Chunker.Cache.digest(cache, :binary.copy(<<i>>, 1000), :blake3)
      assert %{entries: 5, evictions: 45, misses: 50} = Chunker.Cache.stats(cache)
      assert_raise ArgumentError, fn -> Chunker.Cache.new(max_entries: -1) end
    end
  end

  describe "metrics" do
    setup do
      on_exit(fn -> Chunker.Metrics.set_sample_rate(Chunker.Config.get().metrics_sample_rate) end)
    end

    test "counters, dedup and stage histograms" do
      :ok = Chunker.Metrics.set_sample_rate(1.0)
      Chunker.Metrics.reset()
      data = input(200_000)
      known = Chunker.chunk!(data, @small) |> Enum.take(3) |> MapSet.new(& &1.hash)

      chunks =
        data |> Pipeline.ingest!(@small ++ [compress: :none, known?: known]) |> Enum.to_list()

      s = Chunker.Metrics.snapshot()
      assert s.enabled and s.sample_every == 1
      assert s.chunks == length(chunks) and s.chunk_bytes == byte_size(data)
      known_chunks = Enum.filter(chunks, &is_nil(&1.compressed))
      assert s.known_chunks == length(known_chunks)
      assert s.dedup_saved_bytes == Enum.sum(Enum.map(known_chunks, & &1.length))
      assert s.stages.hash.ops == length(chunks) and s.stages.hash.samples == length(chunks)
      assert s.stages.chunk.bytes == byte_size(data)
      assert s.stages.hash.p50_ns > 0 and s.stages.hash.p50_ns <= s.stages.hash.p999_ns

      :ok = Chunker.Metrics.set_sample_rate(0.0)
      Chunker.Metrics.reset()
      data |> Pipeline.ingest!(@small ++ [compress: :none]) |> Stream.run()
      s = Chunker.Metrics.snapshot()
      assert {s.enabled, s.chunks, s.stages.hash.ops} == {false, 0, 0}
    end
  end

  describe "config" do
    test "environment, app config, profiles and clear errors" do
      assert {:ok, c} = Chunker.Config.load(%{}, [])
      assert c.profile == :nar and c.max_in_flight_bytes == 64 * 1_048_576

      assert {c.parallel_threshold, c.batch_parallel_threshold} == {4_194_304, 262_144}

      assert {:ok,
              %{
                parallel_threshold: 5,
                batch_parallel_threshold: 9,
                read_slice_cap_bytes: 8192,
                threads: 3
              }} =
               Chunker.Config.load(
                 %{
                   "CHUNKER_PARALLEL_THRESHOLD" => "5",
                   "RAYON_NUM_THREADS" => "3",
                   "CHUNKER_BATCH_PARALLEL_THRESHOLD" => "9"
                 },
                 read_slice_cap_bytes: 8192,
                 parallel_threshold: 7,
                 batch_parallel_threshold: 11
               )

      assert {:ok, %{parallel_threshold: 7, batch_parallel_threshold: 11}} =
               Chunker.Config.load(%{}, parallel_threshold: 7, batch_parallel_threshold: 11)

      # The configured value reaches the native chunker (and back on restore).
      before = Chunker.Native.cdc_parallel_threshold()
      assert before == Chunker.Config.get().parallel_threshold

      data = input(200_000)

      serial =
        with_config(%{parallel_threshold: 1 <<< 40}, fn -> Chunker.chunk!(data, @small) end)

      with_config(%{parallel_threshold: 12_345}, fn ->
        assert Chunker.Native.cdc_parallel_threshold() == 12_345
        # Chunked in parallel now: the same chunks.
        assert Chunker.chunk!(data, @small) == serial
      end)

      assert Chunker.Native.cdc_parallel_threshold() == before

      assert {:ok, %{profile: :throughput, metrics_sample_rate: 0.25}} =
               Chunker.Config.load(
                 %{"CHUNKER_PROFILE" => "throughput", "CHUNKER_METRICS_SAMPLE_RATE" => "0.25"},
                 []
               )

      for {var, bad} <- [
            {"CHUNKER_PARALLEL_THRESHOLD", "-1"},
            {"CHUNKER_PARALLEL_THRESHOLD", "1k"},
            {"CHUNKER_BATCH_PARALLEL_THRESHOLD", "-5"},
            {"CHUNKER_METRICS_SAMPLE_RATE", "x"},
            {"CHUNKER_READ_SLICE_CAP_BYTES", "10"},
            {"RAYON_NUM_THREADS", "two"},
            {"CHUNKER_PROFILE", "fast"}
          ] do
        assert {:error, message} = Chunker.Config.load(%{var => bad}, [])
        assert message =~ var
      end

      assert {:error, "invalid config :chunker, max_in_flight_bytes: 0" <> _} =
               Chunker.Config.load(%{}, max_in_flight_bytes: 0)
    end
  end

  describe "telemetry" do
    test "events are emitted when :telemetry is loaded" do
      me = self()
      Chunker.Metrics.emit([:x], %{}, %{})
      refute_received _

      # A stand-in :telemetry module (the real one is not a dependency).
      Code.compile_string("""
      defmodule :telemetry do
        def execute(event, measurements, metadata),
          do: send(:persistent_term.get(:chunker_telemetry_test), {event, measurements, metadata})
      end
      """)

      :persistent_term.put(:chunker_telemetry_test, me)

      try do
        "abc" |> Pipeline.ingest!(compress: :none) |> Stream.run()

        assert_received {[:chunker, :ingest, :stop], %{bytes: 3, chunks: 1},
                         %{compression: :none}}
      after
        :code.purge(:telemetry)
        :code.delete(:telemetry)
        :code.purge(:telemetry)
      end
    end
  end
end
