defmodule Chunker.Reliability.Hostile do
  @moduledoc false
  # Hostile calls through every public function, meant to run inside a peer
  # VM (see Chunker.Reliability.Peer). Two kinds of case:
  #
  #   * targeted: a call with a precise expectation (`{:error, pattern}`,
  #     `ArgumentError`, a correct result after misuse...);
  #   * generic: every documented public function of every `Chunker*`
  #     module (discovered with Code.fetch_docs, so modules that land later
  #     are covered without edits) called with random hostile terms.
  #
  # Every call runs in its own process with a time limit. A generic call is
  # fine when it returns (random terms are sometimes valid input) or raises
  # ArgumentError / Chunker.Error with a clear message (or, for a
  # non-enumerable where an enumerable is expected, Elixir's own
  # Protocol.UndefinedError); anything else (other exceptions, a NIF panic,
  # a crash, a timeout) is a violation. The bare "argument error" of a NIF's
  # badarg is not a clear message. Targeted cases also check the result.

  import Bitwise, only: [<<<: 2]

  @allowed_exceptions [ArgumentError, Chunker.Error]

  # Generous: a loaded 2-core CI box can be slow; a hang is still caught.
  @call_timeout 30_000

  # Public but not entry points for data: exception callbacks, struct helpers.
  @skip_functions [exception: 1, message: 1, __struct__: 0, __struct__: 1]

  @doc "Runs every case; returns counts and violations."
  def run(seed, rounds) do
    :rand.seed(:exsss, seed)
    pool = term_pool()
    targeted = targeted_cases()
    generic = generic_cases(pool, rounds)

    results =
      Enum.map(targeted ++ generic, fn {label, fun, expect} -> {label, check(fun, expect)} end)

    violations = for {label, {:violation, why}} <- results, do: {label, why}

    %{
      calls: length(results),
      targeted: length(targeted),
      generic: length(generic),
      functions: api() |> Enum.map(fn {m, f, a} -> "#{inspect(m)}.#{f}/#{a}" end),
      violations: violations
    }
  end

  @doc "Documented public functions of the Chunker* modules: `[{module, fun, arity}]`."
  def api do
    {:ok, modules} = :application.get_key(:chunker, :modules)

    for module <- modules,
        api_module?(module),
        {:docs_v1, _, _, _, moduledoc, _, docs} <- [Code.fetch_docs(module)],
        moduledoc != :hidden,
        {{:function, name, max_arity}, _, _, doc, meta} <- docs,
        doc != :hidden,
        arity <- (max_arity - Map.get(meta, :defaults, 0))..max_arity,
        {name, arity} not in @skip_functions do
      {module, name, arity}
    end
    |> Enum.sort()
  end

  defp api_module?(module) do
    case Module.split(module) do
      ["Chunker", "Native" | _] -> false
      ["Chunker", "Test" | _] -> false
      ["Chunker", "Reliability" | _] -> false
      ["Chunker" | _] -> true
      _ -> false
    end
  end

  ## Running one call

  defp check(fun, expect) do
    {pid, ref} =
      spawn_monitor(fn ->
        outcome =
          try do
            {:returned, fun.()}
          rescue
            e -> {:raised, e.__struct__, Exception.message(e)}
          catch
            kind, reason -> {:caught, kind, reason}
          end

        exit({:outcome, outcome})
      end)

    receive do
      {:DOWN, ^ref, :process, ^pid, {:outcome, outcome}} -> judge(outcome, expect)
      {:DOWN, ^ref, :process, ^pid, other} -> {:violation, {:process_died, other}}
    after
      @call_timeout ->
        Process.exit(pid, :kill)
        {:violation, :timeout}
    end
  end

  defp judge({:raised, module, message}, expect) do
    cond do
      module == Protocol.UndefinedError and message =~ "protocol Enumerable not implemented" ->
        # Elixir's own wrong-type error for a non-enumerable, as Enum raises.
        :ok

      module not in @allowed_exceptions ->
        {:violation, {:raised, module, message}}

      not clear?(message) ->
        {:violation, {:unclear_message, module, message}}

      match?({:returns, _}, expect) ->
        {:violation, {:raised_instead_of_returning, module, message}}

      true ->
        :ok
    end
  end

  defp judge({:caught, kind, reason}, _expect), do: {:violation, {:caught, kind, reason}}

  defp judge({:returned, value}, expect) do
    case expect do
      :error ->
        if match?({:error, _}, value), do: :ok, else: {:violation, {:expected_error, value}}

      {:returns, check} ->
        if check.(value), do: :ok, else: {:violation, {:unexpected_result, value}}

      :raise ->
        {:violation, {:expected_raise, value}}

      :any ->
        :ok
    end
  end

  defp clear?(message) do
    String.length(message) >= 10 and not String.starts_with?(message, "argument error")
  end

  ## Generic cases

  defp generic_cases(pool, rounds) do
    for {m, f, arity} <- api(), _ <- 1..rounds do
      args = for _ <- 1..arity//1, do: pick(pool)
      label = {:generic, m, f, Enum.map(args, &summary/1)}

      {label,
       fn ->
         m |> apply(f, args) |> force()
       end, :any}
    end
  end

  # Lazy results (streams) are run, bounded; running them without a raise is fine.
  defp force(%Stream{} = s), do: {:ok, Enum.take(s, 1000)}
  defp force(f) when is_function(f, 2), do: {:ok, Enum.take(f, 1000)}
  defp force(other), do: other

  defp summary(term) when is_binary(term) and byte_size(term) > 16,
    do: {:binary, byte_size(term)}

  defp summary(term) when is_list(term) and length(term) > 8, do: {:list, length(term)}
  defp summary(term) when is_reference(term), do: :reference
  defp summary(term), do: term

  defp pick(pool) do
    case Enum.random(pool) do
      f when is_function(f, 0) -> f.()
      term -> term
    end
  end

  # Wrong types, out-of-range integers, improper lists, odd bitstrings,
  # handles (fresh, finished, from a dead process, not ours) and random
  # binaries. Binaries and charlists never start with "/", "." or "~", so
  # a path argument stays inside the (empty) working directory.
  defp term_pool do
    [
      nil,
      true,
      false,
      :atom,
      :sha256,
      :"",
      0,
      -1,
      63,
      1024,
      2 ** 32 + 1024,
      2 ** 63,
      2 ** 64,
      2 ** 200,
      -(2 ** 64),
      1.5,
      -0.0,
      "",
      "sha256",
      "nix-archive-1",
      <<1::3>>,
      <<255, 1::7>>,
      [],
      [1 | 2],
      ["a" | "b"],
      ~c"abc",
      [[["x"]], "y"],
      {},
      {64, 256, 1024, 1},
      {-1, 2 ** 64, 0, 5},
      {:ok, "x"},
      %{},
      %{min_size: 64},
      %Chunker.Chunk{},
      [min_size: -1],
      [max_size: 2 ** 70],
      [avg_size: 255],
      [normalization: 2 ** 64],
      [hash: "sha256"],
      [payloads: 1],
      [{:min_size, 64} | :tail],
      [{"min_size", 64}],
      [{:min_size, 64, 1}],
      [:a],
      [foo: 1],
      [min_size: 1024, avg_size: 1024, max_size: 1024],
      fn -> self() end,
      fn -> dead_pid() end,
      fn -> make_ref() end,
      fn -> Chunker.open!(min_size: 64, avg_size: 256, max_size: 1024) end,
      fn -> finished_handle() end,
      fn -> foreign_handle() end,
      fn -> other_handle() end,
      fn -> fn -> :x end end,
      fn -> random_binary(Enum.random([1, 7, 100, 5000])) end,
      fn -> random_binary(Enum.random([65_537, 300_000])) end,
      fn -> Enum.to_list(1..10_000) end
    ]
  end

  def random_binary(size) do
    <<first, rest::binary>> = :rand.bytes(size)
    first = if first in [?/, ?., ?~], do: ?x, else: first
    <<first, rest::binary>>
  end

  defp dead_pid do
    pid = spawn(fn -> :ok end)
    ref = Process.monitor(pid)

    receive do
      {:DOWN, ^ref, _, _, _} -> pid
    end
  end

  defp finished_handle do
    h = Chunker.open!()
    Chunker.feed!(h, "abc")
    Chunker.finish!(h)
    h
  end

  # A handle of another kind (hash, compressor, decompressor), when present.
  def other_handle do
    [
      {Chunker.Hash, fn -> Chunker.Hash.open() end},
      {Chunker.Compress, fn -> elem(Chunker.Compress.open_compress(:zstd), 1) end},
      {Chunker.Compress, fn -> elem(Chunker.Compress.open_decompress(:auto), 1) end}
    ]
    |> Enum.filter(fn {m, _} -> Code.ensure_loaded?(m) end)
    |> case do
      [] -> make_ref()
      makers -> elem(Enum.random(makers), 1).()
    end
  end

  # A handle opened by a process that has since exited.
  defp foreign_handle do
    parent = self()

    {pid, ref} =
      spawn_monitor(fn ->
        h = Chunker.open!(min_size: 64, avg_size: 256, max_size: 1024)
        Chunker.feed!(h, "from another process")
        send(parent, {:handle, h})
      end)

    receive do
      {:DOWN, ^ref, _, ^pid, _} -> :ok
    end

    receive do
      {:handle, h} -> h
    end
  end

  ## Targeted cases

  defp targeted_cases do
    chunk_cases() ++ handle_cases() ++ file_cases() ++ nar_cases() ++ compress_cases()
  end

  defp invalid(field) do
    {:returns, &match?({:error, {:invalid_options, {^field, msg}}} when is_binary(msg), &1)}
  end

  defp chunk_cases do
    sizes =
      for field <- [:min_size, :avg_size, :max_size],
          value <- [-1, 0, 1, 65, 2 ** 32 + 1024, 2 ** 64, 2 ** 70, -(2 ** 64)] do
        {{:chunk, field, value}, fn -> Chunker.chunk("data", [{field, value}]) end,
         invalid(field)}
      end

    others =
      for {field, value} <- [
            normalization: 4,
            normalization: -1,
            normalization: 2 ** 64,
            normalization: :one,
            min_size: "64",
            min_size: 64.0,
            hash: "sha256",
            hash: :md5,
            hash: nil,
            payloads: 1,
            payloads: nil
          ] do
        {{:chunk, field, value}, fn -> Chunker.chunk("data", [{field, value}]) end,
         invalid(field)}
      end

    ordering = [
      {{:chunk, :min_above_avg}, fn -> Chunker.chunk("x", min_size: 4096, avg_size: 2048) end,
       :error},
      {{:chunk, :avg_above_max},
       fn -> Chunker.chunk("x", avg_size: 8192, max_size: 4096, min_size: 64) end, :error}
    ]

    bad_opts =
      for opts <- [%{}, :x, "x", [{:min_size, 64} | :tail], [{"min_size", 64}], [:a], [foo: 1]] do
        {{:chunk, :opts, opts}, fn -> Chunker.chunk("x", opts) end, :error}
      end

    bad_data =
      for data <- [:atom, <<1::3>>, ["a", "b"], ~c"abc", 2 ** 70, nil, {:ok, "x"}] do
        {{:chunk, :data, data}, fn -> Chunker.chunk(data) end, :raise}
      end

    bang =
      for opts <- [[min_size: -1], [hash: :md5]] do
        {{:chunk!, opts}, fn -> Chunker.chunk!("x", opts) end, :raise}
      end

    random =
      for size <- [0, 1, 63, 64, 65_536, 65_537, 1_000_000] do
        data = :rand.bytes(size)

        {{:chunk, :random_binary, size},
         fn -> Chunker.chunk(data, min_size: 64, avg_size: 256, max_size: 1024) end,
         {:returns, &covers?(&1, size)}}
      end

    sizes ++ others ++ ordering ++ bad_opts ++ bad_data ++ bang ++ random
  end

  defp covers?({:ok, chunks}, size) do
    Enum.reduce_while(chunks, 0, fn c, at ->
      if c.offset == at, do: {:cont, at + c.length}, else: {:halt, -1}
    end) == size
  end

  defp covers?(_, _), do: false

  defp handle_cases do
    not_handles = [make_ref(), :atom, self(), {}, 1, "handle", %{}]

    feed_bad_handle =
      for h <- not_handles do
        {{:feed, :not_a_handle, summary(h)}, fn -> Chunker.feed(h, "x") end, :raise}
      end

    finish_bad_handle =
      for h <- not_handles do
        {{:finish, :not_a_handle, summary(h)}, fn -> Chunker.finish(h) end, :raise}
      end

    feed_bad_data =
      for data <- [:a, ["a"], <<1::3>>, 5, nil] do
        {{:feed, :not_a_binary, data}, fn -> Chunker.feed(Chunker.open!(), data) end, :raise}
      end

    misuse = [
      {{:feed, :finished}, fn -> Chunker.feed(finished_handle(), "x") end,
       {:returns, &(&1 == {:error, :finished})}},
      {{:finish, :finished}, fn -> Chunker.finish(finished_handle()) end,
       {:returns, &(&1 == {:error, :finished})}},
      {{:feed!, :finished}, fn -> Chunker.feed!(finished_handle(), "x") end, :raise},
      {{:feed, :foreign_handle},
       fn ->
         h = foreign_handle()
         {Chunker.feed(h, "more"), Chunker.finish(h)}
       end, {:returns, &match?({{:ok, []}, {:ok, [%{offset: 0, length: 24}]}}, &1)}},
      {{:feed, :min_equals_max},
       fn ->
         h = Chunker.open!(min_size: 1024, avg_size: 1024, max_size: 1024, hash: :none)
         {:ok, a} = Chunker.feed(h, "abc")
         {:ok, b} = Chunker.feed(h, :binary.copy(<<7>>, 5000))
         {:ok, c} = Chunker.finish(h)
         Enum.map(a ++ b ++ c, & &1.length)
       end, {:returns, &(&1 == [1024, 1024, 1024, 1024, 907])}},
      {{:stream, :bad_element}, fn -> ["a", :b] |> Chunker.stream() |> Enum.to_list() end,
       :raise},
      {{:stream, :bad_options}, fn -> ["a"] |> Chunker.stream(min_size: -1) |> Enum.to_list() end,
       :raise},
      {{:open, :bad_options}, fn -> Chunker.open(hash: :md5) end, invalid(:hash)},
      {{:open!, :bad_options}, fn -> Chunker.open!(max_size: 2 ** 64) end, :raise}
    ]

    feed_bad_handle ++ finish_bad_handle ++ feed_bad_data ++ misuse
  end

  defp file_cases do
    [
      {{:chunk_file, :enoent}, fn -> Chunker.chunk_file("no/such/file") end,
       {:returns, &(&1 == {:error, {:file, :enoent}})}},
      {{:chunk_file, :nul_byte}, fn -> Chunker.chunk_file("nul\0byte") end, :error},
      {{:chunk_file, :non_utf8}, fn -> Chunker.chunk_file(<<0xFF, 0xFE>>) end, :error},
      {{:chunk_file, :directory}, fn -> Chunker.chunk_file(File.cwd!()) end,
       {:returns, &(&1 == {:error, {:file, :eisdir}})}},
      {{:chunk_file, :payloads}, fn -> Chunker.chunk_file("x", payloads: true) end,
       invalid(:payloads)},
      {{:chunk_file, :not_a_path}, fn -> Chunker.chunk_file({:a}) end, :raise},
      {{:chunk_file, :improper}, fn -> Chunker.chunk_file(["a" | :b]) end, :raise}
    ]
  end

  defp compress_cases do
    if Code.ensure_loaded?(Chunker.Compress) do
      alias Chunker.Compress
      bomb = Compress.compress!(:binary.copy(<<0>>, 8 * 1024 * 1024), :zstd)
      random = :rand.bytes(5000)
      exceeded = &(&1 == {:error, {:size_exceeded, 1024}})

      bombs =
        for algo <- [:zstd, :lz4, :xz, :bzip2] do
          packed = Compress.compress!(:binary.copy(<<0>>, 4 * 1024 * 1024), algo)

          [
            {{:decompress, :bomb, algo},
             fn -> Compress.decompress(packed, algo, max_size: 1024) end, {:returns, exceeded}},
            {{:decompress_stream, :bomb, algo},
             fn ->
               {:ok, d} = Compress.open_decompress(:auto, max_size: 1024)
               Compress.update(d, packed)
             end, {:returns, exceeded}}
          ]
        end

      corrupt =
        for algo <- [:zstd, :lz4, :xz, :bzip2, :auto] do
          {{:decompress, :random_bytes, algo},
           fn -> Compress.decompress(random, algo, max_size: 1 <<< 20) end, :error}
        end

      limits =
        for max <- [-1, 2 ** 64, 1.5, :infinity, "1"] do
          {{:decompress, :max_size, max},
           fn -> Compress.decompress(bomb, :zstd, max_size: max) end, :error}
        end

      handles = [
        {{:feed, :compress_handle},
         fn -> Chunker.feed(elem(Compress.open_compress(:zstd), 1), "x") end, :raise},
        {{:compress_update, :chunker_handle}, fn -> Compress.update(Chunker.open!(), "x") end,
         :raise},
        {{:compress_update, :finished},
         fn ->
           {:ok, h} = Compress.open_compress(:lz4)
           {:ok, _} = Compress.finish(h)
           Compress.update(h, "x")
         end, {:returns, &(&1 == {:error, :finished})}},
        {{:decompress_stream, :truncated},
         fn ->
           packed = Compress.compress!(:rand.bytes(10_000), :xz)

           [binary_part(packed, 0, div(byte_size(packed), 2))]
           |> Compress.decompress_stream(:xz)
           |> Stream.run()
         end, :raise}
      ]

      List.flatten(bombs) ++ corrupt ++ limits ++ handles
    else
      []
    end
  end

  defp nar_cases do
    if Code.ensure_loaded?(Chunker.NAR) do
      [
        {{:nar_dump, :enoent}, fn -> Chunker.NAR.dump("no/such/path") end,
         {:returns, &(&1 == {:error, {:file, :enoent}})}},
        {{:nar_dump, :nul_byte}, fn -> Chunker.NAR.dump("nul\0byte") end, :error},
        {{:nar_dump, :non_utf8}, fn -> Chunker.NAR.dump(<<0xFF, 0xFE>>) end, :error},
        {{:nar_dump, :not_a_path}, fn -> Chunker.NAR.dump(%{}) end, :raise},
        {{:nar_dump_to_file, :into_missing_dir},
         fn -> Chunker.NAR.dump_to_file(File.cwd!(), "no/such/dir/x.nar") end, :error}
      ]
    else
      []
    end
  end
end
