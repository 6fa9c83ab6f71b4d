defmodule ChunkerTest do
  use ExUnit.Case, async: true
  doctest Chunker

  alias Chunker.Test.Oracle

  # Data with structure: random runs, zero runs and repeats, so cuts land everywhere.
  defp data(seed, len) do
    :rand.seed(:exsss, {seed, 7, 11})
    build(len, []) |> IO.iodata_to_binary() |> binary_part(0, len)
  end

  defp build(len, acc) when len <= 0, do: acc

  defp build(len, acc) do
    run = min(:rand.uniform(65_536), len)

    piece =
      case :rand.uniform(3) do
        1 -> :binary.copy(<<0>>, run)
        _ -> :crypto.strong_rand_bytes(run) |> scramble()
      end

    build(len - run, [acc, piece])
  end

  # :crypto bytes are not seeded; mix in :rand so the data is reproducible enough to debug
  defp scramble(bin), do: :binary.copy(<<:rand.uniform(255)>>, 0) <> bin

  defp random_opts do
    avg = 2 * Enum.random(128..32_768)
    min = 2 * Enum.random(32..div(avg, 2))
    max = 2 * Enum.random(max(512, div(avg, 2))..min(avg * 4, 8_388_608))
    [min_size: min, avg_size: avg, max_size: max, normalization: Enum.random(0..3)]
  end

  defp oracle(data, opts) do
    Oracle.cuts(data, opts[:min_size], opts[:avg_size], opts[:max_size], opts[:normalization])
  end

  defp cuts(chunks), do: Enum.map(chunks, &{&1.offset, &1.length})

  defp feed_randomly(handle, data, max_piece) do
    Stream.unfold(data, fn
      <<>> ->
        nil

      rest ->
        n = min(:rand.uniform(max_piece), byte_size(rest))
        {binary_part(rest, 0, n), binary_part(rest, n, byte_size(rest) - n)}
    end)
    |> Enum.flat_map(&Chunker.feed!(handle, &1))
  end

  describe "cut points equal the fastcdc crate's v2020" do
    test "eager, streaming (random splits), Stream and file, random options" do
      tmp = Path.join(System.tmp_dir!(), "chunker-test-#{System.unique_integer([:positive])}")
      on_exit(fn -> File.rm(tmp) end)

      for seed <- 1..12 do
        opts = random_opts()
        data = data(seed, Enum.random([0, 1, 100, 5_000, 70_000, 1_000_000, 3_000_000]))
        expected = oracle(data, opts)

        assert cuts(Chunker.chunk!(data, opts)) == expected, "eager #{inspect(opts)}"

        handle = Chunker.open!(opts)
        streamed = feed_randomly(handle, data, Enum.random([1, 1000, 65_536, 1_048_576]))
        assert cuts(streamed ++ Chunker.finish!(handle)) == expected, "stream #{inspect(opts)}"

        pieces = for <<piece::binary-size(4096) <- data>>, do: piece
        tail = binary_part(data, 4096 * length(pieces), rem(byte_size(data), 4096))
        assert cuts(Enum.to_list(Chunker.stream(pieces ++ [tail], opts))) == expected

        File.write!(tmp, data)
        assert cuts(Chunker.chunk_file!(tmp, opts)) == expected, "file #{inspect(opts)}"
      end
    end

    test "one-byte feeds" do
      opts = [min_size: 64, avg_size: 256, max_size: 1024, normalization: 2, hash: :none]
      data = data(99, 20_000)
      handle = Chunker.open!(opts)
      chunks = Enum.flat_map(:binary.bin_to_list(data), &Chunker.feed!(handle, <<&1>>))
      assert cuts(chunks ++ Chunker.finish!(handle)) == oracle(data, opts)
    end

    test "default NAR-sized options on 16 MiB" do
      data = data(7, 16 * 1024 * 1024)
      defaults = [min_size: 131_072, avg_size: 524_288, max_size: 2_097_152, normalization: 1]
      assert cuts(Chunker.chunk!(data, hash: :none)) == oracle(data, defaults)
    end
  end

  describe "hashes" do
    test "SHA-256 equals :crypto for every chunk, eager and streamed" do
      data = data(3, 2_000_000)
      opts = [min_size: 16_384, avg_size: 65_536, max_size: 262_144]

      chunks = Chunker.chunk!(data, opts)
      assert length(chunks) > 5

      for c <- chunks do
        assert c.hash == :crypto.hash(:sha256, binary_part(data, c.offset, c.length))
      end

      handle = Chunker.open!(opts)
      streamed = feed_randomly(handle, data, 100_000) ++ Chunker.finish!(handle)
      assert Enum.map(streamed, & &1.hash) == Enum.map(chunks, & &1.hash)
    end

    # Official BLAKE3 test vectors (input byte i is i mod 251), first 32 bytes of "hash".
    @blake3_vectors %{
      0 => "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
      1 => "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
      1023 => "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
      1025 => "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
      3073 => "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3",
      6145 => "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f"
    }

    test "BLAKE3 matches the official test vectors" do
      for {len, hex} <- @blake3_vectors, len > 0 do
        input = for i <- 0..(len - 1)//1, into: <<>>, do: <<rem(i, 251)>>
        assert [%{hash: hash, length: ^len}] = Chunker.chunk!(input, hash: :blake3)
        assert Base.encode16(hash, case: :lower) == hex

        handle = Chunker.open!(hash: :blake3)
        assert [] = Chunker.feed!(handle, input)
        assert [%{hash: ^hash}] = Chunker.finish!(handle)
      end
    end

    test "hash: :none leaves hash nil" do
      assert [%{hash: nil}] = Chunker.chunk!("abc", hash: :none)
    end
  end

  describe "payloads" do
    test "eager payloads are sub-binaries of the input (zero copy)" do
      data = data(5, 1_000_000)

      chunks =
        Chunker.chunk!(data, payloads: true, min_size: 16_384, avg_size: 65_536, max_size: 262_144)

      assert length(chunks) > 3

      for c <- chunks do
        assert c.data == binary_part(data, c.offset, c.length)
        assert :binary.referenced_byte_size(c.data) == byte_size(data)
      end
    end

    test "streamed payloads: sub-binaries inside a feed, assembled across feeds" do
      data = data(8, 3_000_000)
      opts = [payloads: true, min_size: 16_384, avg_size: 65_536, max_size: 262_144]
      handle = Chunker.open!(opts)
      feeds = for <<piece::binary-size(500_000) <- data>>, do: :binary.copy(piece)

      chunks =
        Enum.flat_map(feeds, fn feed ->
          for c <- Chunker.feed!(handle, feed), do: {c, feed}
        end)

      assert Enum.map(chunks, fn {c, _} -> {c.offset, c.length} end) ==
               Enum.drop(oracle(data, Keyword.put(opts, :normalization, 1)), -1)

      inside = Enum.filter(chunks, fn {c, _} -> rem(c.offset, 500_000) + c.length <= 500_000 end)
      assert inside != []

      for {c, feed} <- chunks do
        assert c.data == binary_part(data, c.offset, c.length)

        if {c, feed} in inside,
          do: assert(:binary.referenced_byte_size(c.data) == byte_size(feed)),
          else: assert(:binary.referenced_byte_size(c.data) == c.length)
      end

      assert [last] = Chunker.finish!(handle)
      assert last.data == binary_part(data, last.offset, last.length)
    end
  end

  describe "options" do
    test "out-of-range values name the field, including sizes beyond u32" do
      cases = [
        {[min_size: 62], :min_size},
        {[min_size: 65], :min_size},
        {[avg_size: 4_194_306], :avg_size},
        {[max_size: 2 ** 32 + 1024], :max_size},
        {[max_size: 2 ** 64 + 1024], :max_size},
        {[min_size: -2], :min_size},
        {[normalization: 4], :normalization},
        {[min_size: 600_000], :min_size},
        {[avg_size: 4_000_000], :avg_size},
        {[hash: :md5], :hash},
        {[payloads: :yes], :payloads},
        {[avg_size: 1.5], :avg_size},
        {[bogus: 1], :bogus}
      ]

      for {opts, field} <- cases do
        assert {:error, {:invalid_options, {^field, why}}} = Chunker.chunk("data", opts)
        assert is_binary(why) and why != ""
        assert {:error, {:invalid_options, {^field, _}}} = Chunker.open(opts)
        assert {:error, {:invalid_options, {^field, _}}} = Chunker.chunk_file("/dev/null", opts)
        assert_raise Chunker.Error, ~r/invalid option/, fn -> Chunker.chunk!("data", opts) end
      end
    end

    test "application config sets defaults" do
      Application.put_env(:chunker, :chunking, min_size: 64, avg_size: 256, max_size: 1024)

      try do
        data = data(4, 10_000)
        assert length(Chunker.chunk!(data)) > 5
      after
        Application.delete_env(:chunker, :chunking)
      end
    end

    test "wrong argument types raise ArgumentError" do
      assert_raise ArgumentError, ~r/expected a binary/, fn -> Chunker.chunk(:atom) end
      assert_raise ArgumentError, ~r/expected a binary/, fn -> Chunker.chunk([1, 2]) end
      assert_raise ArgumentError, fn -> Chunker.feed(make_ref(), "x") end
      assert_raise ArgumentError, fn -> Chunker.feed(:nope, "x") end
      assert_raise ArgumentError, fn -> Chunker.finish("nope") end
      assert_raise ArgumentError, fn -> Chunker.chunk_file(123) end
      assert {:error, {:invalid_options, {:opts, _}}} = Chunker.chunk("x", :notalist)
      assert {:error, {:invalid_options, {:opts, _}}} = Chunker.chunk("x", [:a])
    end
  end

  describe "streaming handles" do
    test "finished handles say so; finish twice too" do
      handle = Chunker.open!()
      assert {:ok, []} = Chunker.feed(handle, "abc")
      assert {:ok, [%{length: 3}]} = Chunker.finish(handle)
      assert {:error, :finished} = Chunker.feed(handle, "more")
      assert {:error, :finished} = Chunker.finish(handle)
      assert_raise Chunker.Error, ~r/finished/, fn -> Chunker.feed!(handle, "x") end
    end

    test "a handle shared by several processes is serialized, never corrupt" do
      opts = [min_size: 1024, avg_size: 4096, max_size: 16_384, hash: :none]
      handle = Chunker.open!(opts)
      piece = data(11, 50_000)

      results =
        1..8
        |> Enum.map(fn _ ->
          Task.async(fn -> for _ <- 1..20, do: Chunker.feed!(handle, piece) end)
        end)
        |> Enum.flat_map(&Task.await(&1, 30_000))
        |> List.flatten()

      chunks = Enum.sort_by(results ++ Chunker.finish!(handle), & &1.offset)
      # Whatever the interleaving, the chunks tile the 8 MB stream exactly.
      assert Enum.sum(Enum.map(chunks, & &1.length)) == 8 * 20 * 50_000

      assert Enum.reduce(chunks, 0, fn c, pos ->
               assert c.offset == pos
               pos + c.length
             end)
    end

    test "abandoned handles are freed by GC" do
      # In a child VM: concurrent async tests would move this VM's memory.
      peer = Chunker.Reliability.Peer.start!()
      on_exit(fn -> Chunker.Reliability.Peer.stop(peer) end)

      growth =
        Chunker.Reliability.Peer.call(
          elem(peer, 0),
          Chunker.Reliability.Memory,
          :abandoned_handles,
          []
        )

      assert growth < 10_000_000
    end
  end

  describe "chunk_file" do
    test "file errors are {:file, posix}" do
      assert {:error, {:file, :enoent}} = Chunker.chunk_file("/does/not/exist")
      assert {:error, {:file, :eisdir}} = Chunker.chunk_file(System.tmp_dir!())
      assert_raise Chunker.Error, ~r/file error/, fn -> Chunker.chunk_file!("/does/not/exist") end
    end

    test "payloads are refused" do
      assert {:error, {:invalid_options, {:payloads, _}}} =
               Chunker.chunk_file("/dev/null", payloads: true)
    end

    test "an empty file has no chunks" do
      assert {:ok, []} = Chunker.chunk_file("/dev/null")
    end

    @tag timeout: 120_000
    test "a 1 GiB file grows peak RSS by less than 64 MiB" do
      path = Path.join(System.tmp_dir!(), "chunker-1g-#{System.unique_integer([:positive])}")
      on_exit(fn -> File.rm(path) end)
      block = :crypto.strong_rand_bytes(8 * 1024 * 1024)

      File.open!(path, [:write, :raw], fn f ->
        for _ <- 1..128, do: :ok = IO.binwrite(f, block)
      end)

      # Measured in a child VM: concurrent async tests would move this VM's RSS.
      # It resets the kernel's peak-RSS mark, then measures the peak.
      peer = Chunker.Reliability.Peer.start!()
      on_exit(fn -> Chunker.Reliability.Peer.stop(peer) end)

      {bytes, growth_kib} =
        Chunker.Reliability.Peer.call(elem(peer, 0), Chunker.Reliability.Memory, :chunk_file, [
          path
        ])

      growth_mib = growth_kib / 1024
      assert bytes == 1024 * 1024 * 1024
      assert growth_mib < 64, "peak RSS grew #{growth_mib} MiB"
    end
  end
end
