defmodule Chunker do
  @moduledoc """
  Content-defined chunking of Nix archives (and any other bytes) with
  FastCDC 2020, cut points identical to the `fastcdc` Rust crate's `v2020`.

  ## Options

    * `:min_size` - minimum chunk size, 64..1_048_576, even (default 131_072)
    * `:avg_size` - target average size, 256..4_194_304, even (default 524_288)
    * `:max_size` - maximum chunk size, 1024..16_777_216, even (default 2_097_152)
    * `:normalization` - 0..3 (default 1)
    * `:hash` - `:sha256` (default), `:blake3` or `:none`
    * `:payloads` - `true` puts each chunk's bytes in `data`, as a sub-binary
      of the input when possible (default `false`)

  Sizes must satisfy `min_size <= avg_size <= max_size`. Invalid options give
  `{:error, {:invalid_options, {field, reason}}}`. Application-wide defaults
  can be set with `config :chunker, :chunking, avg_size: ...`.

  Work that can take more than about 1 ms runs on dirty schedulers.
  """

  alias Chunker.{Chunk, Native, Options}

  @typedoc "Chunking options, see the module doc."
  @type option ::
          {:min_size, pos_integer()}
          | {:avg_size, pos_integer()}
          | {:max_size, pos_integer()}
          | {:normalization, 0..3}
          | {:hash, :sha256 | :blake3 | :none}
          | {:payloads, boolean()}
  @type reason :: {:invalid_options, {atom(), String.t()}} | {:file, atom()} | :finished | term()

  @typedoc "A streaming chunker handle (a NIF resource); freed when garbage collected."
  @opaque handle :: reference()

  # Binaries up to this size are chunked on a normal scheduler (well under 1 ms).
  @normal_max 65_536

  @doc """
  Splits `data` into chunks.

      iex> data = :binary.copy(<<"nix">>, 1000)
      iex> {:ok, [chunk]} = Chunker.chunk(data, min_size: 64, avg_size: 256, max_size: 4096)
      iex> {chunk.offset, chunk.length, chunk.hash == :crypto.hash(:sha256, data)}
      {0, 3000, true}

      iex> Chunker.chunk(<<>>)
      {:ok, []}

      iex> Chunker.chunk("abc", max_size: 2 ** 32 + 1024)
      {:error, {:invalid_options, {:max_size, "4294968320 is not in 1024..16777216"}}}
  """
  @spec chunk(binary(), [option()]) :: {:ok, [Chunk.t()]} | {:error, reason()}
  def chunk(data, opts \\ [])

  def chunk(data, opts) when is_binary(data) do
    with {:ok, {sizes, hash, payloads}} <- Options.chunking(opts) do
      result =
        if byte_size(data) <= @normal_max,
          do: Native.chunk(data, sizes, hash, payloads),
          else: Native.chunk_dirty(data, sizes, hash, payloads)

      to_chunks(result)
    end
  end

  def chunk(data, _opts),
    do: raise(ArgumentError, "expected a binary, got: #{inspect(data, limit: 5)}")

  @doc """
  Like `chunk/2` but returns the chunks or raises `Chunker.Error`.

      iex> Chunker.chunk!("hello", hash: :none)
      [%Chunker.Chunk{offset: 0, length: 5, hash: nil, data: nil}]
  """
  @spec chunk!(binary(), [option()]) :: [Chunk.t()]
  def chunk!(data, opts \\ []), do: bang(chunk(data, opts))

  @doc """
  Opens a streaming chunker. Feed it with `feed/2`, end with `finish/1`.

  Offsets are absolute in the stream. With `payloads: true`, a chunk's `data`
  is a sub-binary of the fed binary when the chunk lies inside it, and is
  assembled only when it spans feeds. A handle may be shared between
  processes (calls are serialized) and is freed when garbage collected.

      iex> {:ok, h} = Chunker.open(min_size: 64, avg_size: 256, max_size: 1024, hash: :none)
      iex> {:ok, first} = Chunker.feed(h, :binary.copy(<<0>>, 1500))
      iex> {:ok, last} = Chunker.finish(h)
      iex> Enum.map(first ++ last, &{&1.offset, &1.length})
      [{0, 1024}, {1024, 476}]
      iex> Chunker.feed(h, "more")
      {:error, :finished}
  """
  @spec open([option()]) :: {:ok, handle()} | {:error, reason()}
  def open(opts \\ []) do
    with {:ok, {sizes, hash, payloads}} <- Options.chunking(opts) do
      Native.chunker_open(sizes, hash, payloads)
    end
  end

  @doc "Like `open/1` but returns the handle or raises `Chunker.Error`."
  @spec open!([option()]) :: handle()
  def open!(opts \\ []), do: bang(open(opts))

  @doc """
  Feeds the next bytes of the stream; returns the chunks they complete.

      iex> {:ok, h} = Chunker.open()
      iex> Chunker.feed(h, "too small to complete a chunk")
      {:ok, []}
  """
  @spec feed(handle(), binary()) :: {:ok, [Chunk.t()]} | {:error, reason()}
  def feed(handle, data) when is_reference(handle) and is_binary(data) do
    with_handle(handle, fn ->
      case Native.chunker_feed(handle, data) do
        :dirty -> Native.chunker_feed_dirty(handle, data)
        result -> result
      end
    end)
    |> to_chunks()
  end

  def feed(handle, data) do
    raise ArgumentError,
          "expected a handle from Chunker.open/1 and a binary, got: " <>
            "#{inspect(handle, limit: 5)}, #{inspect(data, limit: 5)}"
  end

  @doc "Like `feed/2` but returns the chunks or raises `Chunker.Error`."
  @spec feed!(handle(), binary()) :: [Chunk.t()]
  def feed!(handle, data), do: bang(feed(handle, data))

  @doc """
  Ends the stream and returns its last chunk (if any bytes are left).
  A second `finish/1` is `{:error, :finished}`.
  """
  @spec finish(handle()) :: {:ok, [Chunk.t()]} | {:error, reason()}
  def finish(handle) when is_reference(handle),
    do: to_chunks(with_handle(handle, fn -> Native.chunker_finish(handle) end))

  def finish(handle),
    do:
      raise(
        ArgumentError,
        "expected a handle from Chunker.open/1, got: #{inspect(handle, limit: 5)}"
      )

  @doc "Like `finish/1` but returns the chunks or raises `Chunker.Error`."
  @spec finish!(handle()) :: [Chunk.t()]
  def finish!(handle), do: bang(finish(handle))

  @doc """
  Lazily chunks an enumerable of binaries, e.g.
  `File.stream!(path, [], 1_048_576) |> Chunker.stream()`.
  Raises `Chunker.Error` on invalid options when the stream is run.

      iex> ["abc", "def"] |> Chunker.stream(hash: :none) |> Enum.map(&{&1.offset, &1.length})
      [{0, 6}]
  """
  @spec stream(Enumerable.t(), [option()]) :: Enumerable.t()
  def stream(enumerable, opts \\ []) do
    unless enumerable?(enumerable),
      do:
        raise(
          ArgumentError,
          "expected an enumerable of binaries, got: #{inspect(enumerable, limit: 5)}"
        )

    eof = make_ref()

    Stream.transform(
      Stream.concat(enumerable, [eof]),
      fn -> open!(opts) end,
      fn
        ^eof, handle -> {finish!(handle), handle}
        data, handle -> {feed!(handle, data), handle}
      end,
      fn _handle -> :ok end
    )
  end

  @doc """
  Chunks a file with bounded memory whatever its size (read on a DirtyIo
  scheduler). `:payloads` is not supported here. File errors are
  `{:error, {:file, posix_reason}}`.

      iex> Chunker.chunk_file("/nonexistent/file")
      {:error, {:file, :enoent}}
  """
  @spec chunk_file(Path.t(), [option()]) :: {:ok, [Chunk.t()]} | {:error, reason()}
  def chunk_file(path, opts \\ []) do
    with {:ok, path} <- path_string(path),
         {:ok, {sizes, hash, false}} <- file_options(opts) do
      to_chunks(Native.chunk_file(path, sizes, hash))
    end
  end

  @doc "Like `chunk_file/2` but returns the chunks or raises `Chunker.Error`."
  @spec chunk_file!(Path.t(), [option()]) :: [Chunk.t()]
  def chunk_file!(path, opts \\ []), do: bang(chunk_file(path, opts))

  defp file_options(opts) do
    case Options.chunking(opts) do
      {:ok, {_, _, true}} ->
        {:error, {:invalid_options, {:payloads, "not supported by chunk_file"}}}

      other ->
        other
    end
  end

  defp path_string(path) do
    {:ok, IO.chardata_to_string(path)}
  rescue
    _ -> raise ArgumentError, "expected a path, got: #{inspect(path, limit: 5)}"
  end

  defp enumerable?(list) when is_list(list), do: Options.proper_list?(list)
  defp enumerable?(fun) when is_function(fun), do: is_function(fun, 2)
  defp enumerable?(other), do: Enumerable.impl_for(other) != nil

  # Any other reference makes the NIF raise a bare badarg: say what was expected.
  defp with_handle(handle, fun) do
    fun.()
  rescue
    ArgumentError ->
      reraise ArgumentError,
              "expected a handle from Chunker.open/1, got: #{inspect(handle, limit: 5)}",
              __STACKTRACE__
  end

  defp to_chunks({:ok, tuples}), do: {:ok, Chunk.from_tuples(tuples)}
  defp to_chunks({:error, _} = error), do: error

  defp bang({:ok, value}), do: value
  defp bang({:error, reason}), do: raise(Chunker.Error, reason: reason)
end
