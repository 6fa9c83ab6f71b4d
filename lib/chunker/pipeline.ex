defmodule Chunker.Pipeline do
  @moduledoc """
  Whole-input ingest and batch chunking on the native worker pool.

  `ingest/2` runs chunk -> hash -> skip known -> compress concurrently in
  Rust and returns a lazy `Stream` of `%Chunker.Chunk{}` in input order,
  each with `compressed` (what to store) and `compression`. Cut points and
  digests are those of `Chunker.chunk/2` with the same options.

  The stream runs in the process that enumerates it: that process has the
  input cut in slices of at most `CHUNKER_READ_SLICE_CAP_BYTES` (each a
  short dirty-scheduler call) and receives finished chunks as messages from
  the worker threads, so no scheduler is blocked for the whole input. A
  binary is read in place by the native side (the workers hash and
  compress its bytes without a copy), a file is read by Rust (a file whose
  size changes while it is read fails with `{:file_changed, {size_at_open,
  bytes_read}}`), and the pieces of an enumerable are copied in. At
  most `:max_in_flight_bytes` of chunk data are buffered (cut but not yet
  consumed): the stream stops feeding until the consumer catches up.
  Halting the stream, or the process dying, cancels the work and frees its
  memory.

  ## Ingest options

  The chunking options of `Chunker` (`:min_size`, `:avg_size`, `:max_size`,
  `:normalization`, `:hash`, `:payloads`), plus:

    * `:compress` - `:zstd`, `:lz4`, `:xz`, `:bzip2` or `:none` (default
      `:zstd`)
    * `:level` - compression level (default: the algorithm's)
    * `:known?` - a `MapSet` of digests, or a 1-arity function returning
      truthy for digests the store already has: those chunks are not
      compressed (`compressed` and `compression` are `nil`)
    * `:max_in_flight_bytes` - default from `Chunker.Config` (64 MiB)
    * `:cache` - a `Chunker.Cache` to reuse digests of repeated chunks
  """

  alias Chunker.{Chunk, Config, Native, Options}

  @pipeline_keys [:compress, :level, :known?, :max_in_flight_bytes, :cache]
  @algos [:zstd, :lz4, :xz, :bzip2]

  @typedoc "What to ingest: data, `{:file, path}`, a `File.Stream` or any enumerable of binaries."
  @type source :: binary() | {:file, Path.t()} | Enumerable.t()

  @doc """
  Ingests `source` and returns `{:ok, stream}` of `%Chunker.Chunk{}`.

  A bare binary is the data itself; give a file as `{:file, path}` (or a
  `File.Stream`, which is read directly in slices). Options are checked
  now; the work starts when the stream is enumerated.

      iex> data = :binary.copy("chunky bacon ", 2_000)
      iex> {:ok, stream} = Chunker.Pipeline.ingest(data, avg_size: 1024, min_size: 256, max_size: 4096, compress: :none)
      iex> chunks = Enum.to_list(stream)
      iex> Enum.map(chunks, & &1.offset) == Enum.map(Chunker.chunk!(data, avg_size: 1024, min_size: 256, max_size: 4096), & &1.offset)
      true
      iex> IO.iodata_to_binary(Enum.map(chunks, & &1.compressed)) == data
      true

      iex> Chunker.Pipeline.ingest("x", compress: :gzip)
      {:error, {:invalid_options, {:compress, "must be one of :zstd, :lz4, :xz, :bzip2, :none, got: :gzip"}}}
  """
  @spec ingest(source(), keyword()) :: {:ok, Enumerable.t()} | {:error, term()}
  def ingest(source, opts \\ []) do
    check_source!(source)

    with {:ok, spec} <- ingest_spec(opts) do
      {:ok, build_stream(source, spec)}
    end
  end

  @doc "Like `ingest/2` but returns the stream or raises `Chunker.Error`."
  @spec ingest!(source(), keyword()) :: Enumerable.t()
  def ingest!(source, opts \\ []), do: bang(ingest(source, opts))

  @doc """
  The same stages as `ingest/2` one after another on one dirty-scheduler
  thread, as a list: the baseline the pipeline is tested and measured
  against. Takes a binary.

      iex> Chunker.Pipeline.sequential("abc", compress: :none) |> elem(1) |> hd() |> Map.take([:offset, :length, :compressed])
      %{offset: 0, length: 3, compressed: "abc"}
  """
  @spec sequential(binary(), keyword()) :: {:ok, [Chunk.t()]} | {:error, term()}
  def sequential(data, opts \\ [])

  def sequential(data, opts) when is_binary(data) do
    with {:ok, spec} <- ingest_spec(opts),
         {:ok, tuples} <- Native.pipeline_sequential(data, spec.sizes, spec.hash, spec.compress) do
      {:ok, Enum.map(tuples, &to_chunk(&1, spec.compression))}
    end
  end

  def sequential(data, _opts),
    do: raise(ArgumentError, "expected a binary, got: #{inspect(data, limit: 5)}")

  # --- options ---------------------------------------------------------------

  defp ingest_spec(opts) when is_list(opts) do
    if Keyword.keyword?(opts),
      do: ingest_spec_keyword(opts),
      else: invalid(:opts, "must be a keyword list, got: #{inspect(opts, limit: 5)}")
  end

  defp ingest_spec(opts),
    do: invalid(:opts, "must be a keyword list, got: #{inspect(opts, limit: 5)}")

  defp ingest_spec_keyword(opts) do
    config = Config.get()
    {pipeline_opts, chunk_opts} = Keyword.split(opts, @pipeline_keys)

    with {:ok, {sizes, hash, payloads}} <- Options.chunking(chunk_opts),
         {:ok, compress, compression} <- compress_spec(pipeline_opts),
         :ok <- Native.pipeline_check(sizes, hash, compress),
         {:ok, known} <- known_spec(pipeline_opts[:known?], hash),
         {:ok, max} <-
           positive(
             :max_in_flight_bytes,
             Keyword.get(pipeline_opts, :max_in_flight_bytes, config.max_in_flight_bytes)
           ),
         {:ok, cache} <- cache_spec(pipeline_opts[:cache]) do
      {:ok,
       %{
         sizes: sizes,
         hash: hash,
         payloads: payloads,
         compress: compress,
         compression: compression,
         known: known,
         max_in_flight: max,
         cache: cache,
         slice: config.read_slice_cap_bytes
       }}
    end
  end

  # Ranges are the Rust core's.
  defp check_ranges({sizes, hash, _}), do: Native.pipeline_check(sizes, hash, :none)

  defp compress_spec(opts) do
    case Keyword.get(opts, :compress, :zstd) do
      :none ->
        {:ok, :none, :none}

      algo when algo in @algos ->
        case Keyword.get(opts, :level) do
          nil -> {:ok, {Atom.to_string(algo), nil}, algo}
          level when is_integer(level) -> {:ok, {Atom.to_string(algo), level}, algo}
          other -> invalid(:level, "must be an integer, got: #{inspect(other, limit: 5)}")
        end

      other ->
        invalid(
          :compress,
          "must be one of :zstd, :lz4, :xz, :bzip2, :none, got: #{inspect(other, limit: 5)}"
        )
    end
  end

  defp known_spec(nil, _hash), do: {:ok, {:none, nil}}

  defp known_spec(_, :none),
    do: invalid(:known?, "needs digests: not allowed with hash: :none")

  defp known_spec(%MapSet{} = set, _hash), do: {:ok, {{:set, MapSet.to_list(set)}, nil}}
  defp known_spec(fun, _hash) when is_function(fun, 1), do: {:ok, {:ask, fun}}

  defp known_spec(other, _hash),
    do:
      invalid(:known?, "must be a MapSet or a 1-arity function, got: #{inspect(other, limit: 5)}")

  defp cache_spec(nil), do: {:ok, nil}
  defp cache_spec(%Chunker.Cache{ref: ref}), do: {:ok, ref}

  defp cache_spec(other),
    do: invalid(:cache, "must be a Chunker.Cache, got: #{inspect(other, limit: 5)}")

  defp positive(_field, v) when is_integer(v) and v > 0, do: {:ok, v}

  defp positive(field, v),
    do: invalid(field, "must be a positive integer, got: #{inspect(v, limit: 5)}")

  defp invalid(field, why), do: {:error, {:invalid_options, {field, why}}}

  defp check_source!(source) when is_binary(source), do: :ok

  defp check_source!({:file, path}) when is_binary(path) or is_list(path), do: :ok

  defp check_source!(source) do
    if Enumerable.impl_for(source) != nil and not is_tuple(source) and
         not (is_list(source) and List.improper?(source)) do
      :ok
    else
      raise ArgumentError,
            "expected a binary, {:file, path} or an enumerable of binaries, got: " <>
              inspect(source, limit: 5)
    end
  end

  # --- the stream --------------------------------------------------------------

  defp build_stream(source, spec) do
    Stream.resource(
      fn -> start(source, spec) end,
      &next/1,
      &stop/1
    )
  end

  defp start(source, spec) do
    tag = System.unique_integer([:positive])
    {known_arg, known_fun} = spec.known

    {:ok, ingest} =
      Native.pipeline_open(
        tag,
        spec.sizes,
        spec.hash,
        spec.compress,
        known_arg,
        spec.payloads,
        spec.max_in_flight,
        spec.cache
      )
      |> case do
        {:ok, _} = ok -> ok
        {:error, reason} -> raise Chunker.Error, reason: reason
      end

    input = open_input(source, ingest, tag, spec.slice)

    %{
      ingest: ingest,
      tag: tag,
      input: input,
      native?: input == :native,
      slice: spec.slice,
      known_fun: known_fun,
      compression: spec.compression,
      room: :ok,
      to_ack: 0,
      delivered: 0,
      total: nil,
      started: System.monotonic_time(),
      bytes: 0
    }
  end

  defp next(%{total: total, delivered: total} = state) when is_integer(total) do
    emit_stop(state)
    {:halt, state}
  end

  defp next(state) do
    state = ack(state)

    receive do
      {:chunker_pipeline, tag, _, _} = msg when tag == state.tag -> handle(msg, state)
      {:chunker_pipeline, tag, _, _, _} = msg when tag == state.tag -> handle(msg, state)
    after
      0 -> advance(state)
    end
  end

  # No message waiting: feed, finish, or wait for one.
  defp advance(%{input: input, room: :ok} = state) when input not in [:done, :native] do
    case pull(input, state.slice) do
      {:ok, piece, input} ->
        room = check(Native.pipeline_feed(state.ingest, piece))
        {[], %{state | input: input, room: room, bytes: state.bytes + byte_size(piece)}}

      :done ->
        {:ok, total} = check_finish(Native.pipeline_finish(state.ingest))
        {[], %{state | input: :done, total: total}}
    end
  end

  defp advance(%{total: total, delivered: total} = state) when is_integer(total),
    do: {[], state}

  defp advance(state) do
    tag = state.tag

    receive do
      {:chunker_pipeline, ^tag, _, _} = msg -> handle(msg, state)
      {:chunker_pipeline, ^tag, _, _, _} = msg -> handle(msg, state)
    end
  end

  defp handle({:chunker_pipeline, _, :chunks, tuples, bytes}, state) do
    chunks = Enum.map(tuples, &to_chunk(&1, state.compression))
    # Bytes fed by a native feeder are counted as they come out.
    fed = if state.native?, do: state.bytes + bytes, else: state.bytes
    {chunks, %{state | to_ack: bytes, delivered: state.delivered + length(chunks), bytes: fed}}
  end

  defp handle({:chunker_pipeline, _, :ask, asks}, state) do
    answers = Enum.map(asks, fn {seq, digest} -> {seq, !!state.known_fun.(digest)} end)
    :ok = Native.pipeline_decide(state.ingest, answers)
    {[], state}
  end

  defp handle({:chunker_pipeline, _, :total, total}, state),
    do: {[], %{state | input: :done, total: total}}

  defp handle({:chunker_pipeline, _, :error, reason}, _state),
    do: raise(Chunker.Error, reason: reason)

  defp ack(%{to_ack: 0} = state), do: state

  defp ack(state),
    do: %{state | to_ack: 0, room: Native.pipeline_ack(state.ingest, state.to_ack)}

  defp check(:ok), do: :ok
  defp check(:full), do: :full
  defp check({:error, reason}), do: raise(Chunker.Error, reason: reason)

  defp check_finish({:ok, _} = ok), do: ok
  defp check_finish({:error, reason}), do: raise(Chunker.Error, reason: reason)

  defp stop(state) do
    Native.pipeline_cancel(state.ingest)
    flush(state.tag)
    close_input(state.input)
  end

  defp flush(tag) do
    receive do
      {:chunker_pipeline, ^tag, _, _} -> flush(tag)
      {:chunker_pipeline, ^tag, _, _, _} -> flush(tag)
    after
      0 -> :ok
    end
  end

  defp to_chunk({offset, length, hash, known, compressed, data}, compression) do
    %Chunk{
      offset: offset,
      length: length,
      hash: hash,
      data: data,
      compressed: compressed,
      compression: if(known or is_nil(compressed), do: nil, else: compression)
    }
  end

  defp emit_stop(state) do
    Chunker.Metrics.emit(
      [:chunker, :ingest, :stop],
      %{
        duration: System.monotonic_time() - state.started,
        bytes: state.bytes,
        chunks: state.delivered
      },
      %{compression: state.compression}
    )
  end

  # --- input -------------------------------------------------------------------

  # Binaries and files are fed by a native feeder thread (`:native`): a
  # binary is read in place, a file is read by Rust; only the pieces of an
  # enumerable are fed from here.
  defp open_input(data, ingest, tag, slice) when is_binary(data),
    do: started!(Native.pipeline_start_binary(ingest, tag, data, slice))

  defp open_input({:file, path}, ingest, tag, slice), do: start_file!(ingest, tag, path, slice)

  defp open_input(%File.Stream{path: path}, ingest, tag, slice),
    do: start_file!(ingest, tag, path, slice)

  defp open_input(enum, _ingest, _tag, _slice) do
    {:suspended, nil, cont} =
      Enumerable.reduce(enum, {:suspend, nil}, fn x, _ -> {:suspend, x} end)

    {:enum, cont, <<>>}
  end

  defp start_file!(ingest, tag, path, slice),
    do: started!(Native.pipeline_start_file(ingest, tag, IO.chardata_to_string(path), slice))

  defp started!(:ok), do: :native
  defp started!({:error, reason}), do: raise(Chunker.Error, reason: reason)

  # The next slice of at most `slice` bytes.
  defp pull({:binary, <<>>}, _slice), do: :done

  defp pull({:binary, data}, slice) when byte_size(data) <= slice,
    do: {:ok, data, {:binary, <<>>}}

  defp pull({:binary, data}, slice) do
    <<piece::binary-size(slice), rest::binary>> = data
    {:ok, piece, {:binary, rest}}
  end

  defp pull({:enum, cont, pending}, slice) when byte_size(pending) > 0 do
    {:ok, piece, {:binary, rest}} = pull({:binary, pending}, slice)
    {:ok, piece, {:enum, cont, rest}}
  end

  defp pull({:enum, cont, <<>>}, slice) do
    case cont.({:cont, nil}) do
      {:suspended, piece, cont} when is_binary(piece) ->
        pull({:enum, cont, piece}, slice)
        |> case do
          :done -> pull({:enum, cont, <<>>}, slice)
          other -> other
        end

      {:suspended, other, cont} ->
        cont.({:halt, nil})

        raise ArgumentError,
              "expected an enumerable of binaries, got an element: #{inspect(other, limit: 5)}"

      {tag, _} when tag in [:done, :halted] ->
        :done
    end
  end

  defp close_input({:enum, cont, _}), do: cont.({:halt, nil})
  defp close_input(_), do: :ok

  # --- batch APIs ------------------------------------------------------------

  @doc """
  Chunks many binaries: `{:ok, results}` with one `{:ok, chunks}` per item,
  in order. Runs on the worker pool when the total size reaches
  `CHUNKER_BATCH_PARALLEL_THRESHOLD`, in dirty calls of bounded size; with
  `progress: fun`, `fun.(done_items, total_items)` is called after each.

      iex> {:ok, [{:ok, [a]}, {:ok, []}]} = Chunker.Pipeline.chunk_batch(["abc", ""])
      iex> a.hash == :crypto.hash(:sha256, "abc")
      true
  """
  @spec chunk_batch([binary()], keyword()) ::
          {:ok, [{:ok, [Chunk.t()]} | {:error, term()}]} | {:error, term()}
  def chunk_batch(binaries, opts \\ [])

  def chunk_batch(binaries, opts) when is_list(binaries) do
    check_list!(binaries, &is_binary/1, "a list of binaries")
    {progress, opts} = pop_progress!(opts)

    with {:ok, {sizes, hash, payloads} = chunking} <- Options.chunking(opts),
         :ok <- check_ranges(chunking) do
      total_bytes = Enum.reduce(binaries, 0, &(byte_size(&1) + &2))
      parallel = parallel?(total_bytes, length(binaries))

      results =
        binaries
        |> groups(&byte_size/1)
        |> run_groups(length(binaries), progress, fn group ->
          {:ok, lists} = Native.chunk_batch(group, sizes, hash, parallel)

          Enum.zip_with(group, lists, fn bin, tuples ->
            {:ok, Enum.map(tuples, &batch_chunk(&1, bin, payloads))}
          end)
        end)

      {:ok, results}
    end
  end

  def chunk_batch(binaries, _opts),
    do: raise(ArgumentError, "expected a list of binaries, got: #{inspect(binaries, limit: 5)}")

  @doc "Like `chunk_batch/2` but returns the results or raises `Chunker.Error`."
  @spec chunk_batch!([binary()], keyword()) :: [{:ok, [Chunk.t()]} | {:error, term()}]
  def chunk_batch!(binaries, opts \\ []), do: bang(chunk_batch(binaries, opts))

  @doc """
  Chunks many files (bounded memory each): `{:ok, results}` with one
  `{:ok, chunks}` or `{:error, {:file, posix}}` per path, in order; a bad
  file never fails the others. Parallel when the files' total size reaches
  `CHUNKER_BATCH_PARALLEL_THRESHOLD`; `progress: fun` as in `chunk_batch/2`.

      iex> {:ok, [{:error, {:file, :enoent}}]} = Chunker.Pipeline.batch_chunk_files(["/nonexistent"])
  """
  @spec batch_chunk_files([Path.t()], keyword()) ::
          {:ok, [{:ok, [Chunk.t()]} | {:error, term()}]} | {:error, term()}
  def batch_chunk_files(paths, opts \\ [])

  def batch_chunk_files(paths, opts) when is_list(paths) do
    check_list!(paths, &(is_binary(&1) or is_list(&1)), "a list of paths")
    paths = Enum.map(paths, &path_string/1)
    {progress, opts} = pop_progress!(opts)

    with {:ok, {sizes, hash, false} = chunking} <- file_options(opts),
         :ok <- check_ranges(chunking) do
      sized = Enum.map(paths, &{&1, file_size(&1)})
      total_bytes = Enum.reduce(sized, 0, fn {_, s}, acc -> acc + s end)
      parallel = parallel?(total_bytes, length(paths))

      results =
        sized
        |> groups(fn {_, s} -> s end)
        |> run_groups(length(paths), progress, fn group ->
          {:ok, items} =
            Native.chunk_files_batch(Enum.map(group, &elem(&1, 0)), sizes, hash, parallel)

          Enum.map(items, fn
            {:ok, tuples} -> {:ok, Chunk.from_tuples(tuples)}
            {:error, _} = e -> e
          end)
        end)

      {:ok, results}
    end
  end

  def batch_chunk_files(paths, _opts),
    do: raise(ArgumentError, "expected a list of paths, got: #{inspect(paths, limit: 5)}")

  @doc "Like `batch_chunk_files/2` but returns the results or raises `Chunker.Error`."
  @spec batch_chunk_files!([Path.t()], keyword()) :: [{:ok, [Chunk.t()]} | {:error, term()}]
  def batch_chunk_files!(paths, opts \\ []), do: bang(batch_chunk_files(paths, opts))

  defp check_list!(list, valid?, what) do
    unless not List.improper?(list) and Enum.all?(list, valid?),
      do: raise(ArgumentError, "expected #{what}, got: #{inspect(list, limit: 5)}")
  end

  # `:progress` out of the options; the rest is checked by `Options.chunking/1`.
  defp pop_progress!(opts) do
    unless Keyword.keyword?(opts),
      do:
        raise(
          ArgumentError,
          "expected a keyword list of options, got: #{inspect(opts, limit: 5)}"
        )

    case Keyword.pop(opts, :progress) do
      {nil, _} = ok ->
        ok

      {fun, _} = ok when is_function(fun, 2) ->
        ok

      {other, _} ->
        raise ArgumentError,
              ":progress must be a 2-arity function, got: #{inspect(other, limit: 5)}"
    end
  end

  # One dirty call handles at most this many bytes (about 20-50 ms of work)
  # or this many items, so long batches report progress and never hold a
  # scheduler for long.
  @group_bytes 32 * 1_048_576
  @group_items 256

  defp groups(items, size_of) do
    items
    |> Enum.chunk_while(
      {[], 0, 0},
      fn item, {acc, bytes, n} ->
        s = size_of.(item)

        if acc != [] and (bytes + s > @group_bytes or n >= @group_items),
          do: {:cont, Enum.reverse(acc), {[item], s, 1}},
          else: {:cont, {[item | acc], bytes + s, n + 1}}
      end,
      fn
        {[], _, _} -> {:cont, {[], 0, 0}}
        {acc, _, _} -> {:cont, Enum.reverse(acc), {[], 0, 0}}
      end
    )
  end

  defp run_groups(groups, total, progress, fun) do
    {results, _} =
      Enum.flat_map_reduce(groups, 0, fn group, done ->
        out = fun.(group)
        done = done + length(group)
        if progress, do: progress.(done, total)
        {out, done}
      end)

    results
  end

  defp parallel?(total_bytes, count),
    do: count > 1 and total_bytes >= Config.get().batch_parallel_threshold

  defp batch_chunk({offset, length, hash, _}, bin, payloads) do
    %Chunk{
      offset: offset,
      length: length,
      hash: hash,
      data: if(payloads, do: binary_part(bin, offset, length))
    }
  end

  defp file_options(opts) do
    case Options.chunking(opts) do
      {:ok, {_, _, true}} ->
        invalid(:payloads, "not supported by batch_chunk_files")

      other ->
        other
    end
  end

  defp file_size(path) do
    case File.stat(path) do
      {:ok, %{size: size}} -> size
      _ -> 0
    end
  end

  defp path_string(path) do
    IO.chardata_to_string(path)
  rescue
    _ -> raise ArgumentError, "expected a path, got: #{inspect(path, limit: 5)}"
  end

  defp bang({:ok, value}), do: value
  defp bang({:error, reason}), do: raise(Chunker.Error, reason: reason)
end
