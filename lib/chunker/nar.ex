defmodule Chunker.NAR do
  @moduledoc """
  Nix archives (NAR), the serialisation `nix-store --dump` produces:
  writing, strict streaming reading, safe unpacking, plain or NAR-aware
  chunking and reference normalisation.

  ## Writing

  `dump/1` and `dump_to_file/2` serialise a file, symlink or directory tree
  byte-identically to `nix-store --dump` (symlinks are never followed; a
  file is executable in the NAR when its owner-execute bit is set).

  ## Reading

  `entries/1`, `read_file/1`, `open_reader/0` + `feed/2` + `finish/1` and
  `stream_entries/1` parse with bounded memory whatever the feed sizes and
  return `Chunker.NAR.Entry` structs. Only the canonical encoding (what
  `nix-store --dump` writes) is accepted; any violation (magic, token order,
  non-zero padding, names empty/`.`/`..`/with `/` or NUL/over 255 bytes,
  unsorted or duplicate names, bad symlink targets, paths over 4096 bytes,
  truncation, trailing bytes) is `{:error, {:nar, offset, reason}}`.

  ## Unpacking

  `unpack/2` and `unpack_file/2` recreate the tree like `nix-store
  --restore`: the target must not exist, every node is created fresh, no
  symlink is followed, nothing is written outside the target, and a failed
  unpack removes what it created.

  ## Chunking

  `chunk/2` chunks a NAR plainly (FastCDC 2020 over its bytes, as
  `Chunker.chunk/2`) or, with `nar_aware: true`, along its structure: each
  file of at least `min_size` bytes is chunked on its own (same file, same
  chunks, wherever it sits), smaller files and metadata are grouped with
  cuts moved to the nearest entry boundary within `avg_size / 4`, and (with
  `metadata_chunks`, the default) the header and each large file's metadata
  are separate small chunks. With `references:`, every occurrence of those
  store-path hashes is replaced by a placeholder before chunking: chunk
  hashes are over the **normalised** bytes, and the returned patch list
  (`rebuild/3`) restores the original NAR byte for byte.

  Errors: `{:nar, offset, reason}`, `{:file, posix}`,
  `{:unsupported_file_type, path}`, `{:invalid_reference, index}`,
  `:invalid_patches`, `{:invalid_options, {field, why}}`. Work runs on
  dirty schedulers.
  """

  alias Chunker.{Native, Options}
  alias Chunker.NAR.{Chunk, Entry}

  @type reason ::
          {:nar, non_neg_integer(), atom()}
          | {:file, atom()}
          | {:unsupported_file_type, String.t()}
          | {:invalid_reference, non_neg_integer()}
          | :invalid_patches
          | {:invalid_options, {atom(), String.t()}}

  @typedoc "A streaming reader handle; freed when garbage collected."
  @opaque reader :: reference()

  @typedoc "A store-path hash (32 nix-base32 characters) or a store path containing one."
  @type reference_hash :: String.t()

  @doc """
  Serialises `path` to a NAR binary.

      iex> dir = Path.join(System.tmp_dir!(), "nar_doc_#{System.unique_integer([:positive])}")
      iex> File.write!(dir, "hello")
      iex> {:ok, nar} = Chunker.NAR.dump(dir)
      iex> File.rm!(dir)
      iex> {byte_size(nar), binary_part(nar, 8, 13)}
      {120, "nix-archive-1"}

      iex> Chunker.NAR.dump("/nonexistent/path")
      {:error, {:file, :enoent}}
  """
  @spec dump(Path.t()) :: {:ok, binary()} | {:error, reason()}
  def dump(path), do: Native.nar_dump(path_string(path))

  @doc "Like `dump/1` but returns the NAR or raises `Chunker.Error`."
  @spec dump!(Path.t()) :: binary()
  def dump!(path), do: bang(dump(path))

  @doc """
  Writes the NAR of `path` to `dest`, a file that must not exist yet
  (`{:error, {:file, :eexist}}` otherwise). Memory stays bounded whatever
  the tree's size. Returns the NAR's size.

      iex> src = Path.join(System.tmp_dir!(), "nar_doc_#{System.unique_integer([:positive])}")
      iex> File.mkdir_p!(src)
      iex> {:ok, size} = Chunker.NAR.dump_to_file(src, src <> ".nar")
      iex> result = {size, Chunker.NAR.dump_to_file(src, src <> ".nar")}
      iex> File.rm!(src <> ".nar")
      iex> File.rmdir!(src)
      iex> result
      {96, {:error, {:file, :eexist}}}
  """
  @spec dump_to_file(Path.t(), Path.t()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def dump_to_file(path, dest), do: Native.nar_dump_to_file(path_string(path), path_string(dest))

  @doc "Like `dump_to_file/2` but returns the size or raises `Chunker.Error`."
  @spec dump_to_file!(Path.t(), Path.t()) :: non_neg_integer()
  def dump_to_file!(path, dest), do: bang(dump_to_file(path, dest))

  @doc """
  Parses a whole NAR binary into its entries.

      iex> dir = Path.join(System.tmp_dir!(), "nar_doc_#{System.unique_integer([:positive])}")
      iex> File.mkdir_p!(Path.join(dir, "bin"))
      iex> File.ln_s!("bin", Path.join(dir, "sbin"))
      iex> nar = Chunker.NAR.dump!(dir)
      iex> File.rm_rf!(dir)
      iex> {:ok, entries} = Chunker.NAR.entries(nar)
      iex> Enum.map(entries, &{&1.path, &1.type, &1.target})
      [{"", :directory, nil}, {"bin", :directory, nil}, {"sbin", :symlink, "bin"}]

      iex> Chunker.NAR.entries("not a NAR")
      {:error, {:nar, 0, :bad_magic}}
  """
  @spec entries(binary()) :: {:ok, [Entry.t()]} | {:error, reason()}
  def entries(nar) when is_binary(nar), do: to_entries(Native.nar_entries(nar))

  def entries(other),
    do: raise(ArgumentError, "expected a binary, got: #{inspect(other, limit: 5)}")

  @doc "Like `entries/1` but returns the entries or raises `Chunker.Error`."
  @spec entries!(binary()) :: [Entry.t()]
  def entries!(nar), do: bang(entries(nar))

  @doc """
  Parses a NAR file with bounded memory (read on a DirtyIo scheduler);
  only the entry list grows with the NAR.

      iex> Chunker.NAR.read_file("/nonexistent.nar")
      {:error, {:file, :enoent}}
  """
  @spec read_file(Path.t()) :: {:ok, [Entry.t()]} | {:error, reason()}
  def read_file(path), do: to_entries(Native.nar_read_file(path_string(path)))

  @doc "Like `read_file/1` but returns the entries or raises `Chunker.Error`."
  @spec read_file!(Path.t()) :: [Entry.t()]
  def read_file!(path), do: bang(read_file(path))

  @doc """
  Opens a streaming reader: `feed/2` it pieces of any size, then `finish/1`.

      iex> {:ok, r} = Chunker.NAR.open_reader()
      iex> nar = <<13::little-64, "nix-archive-1", 0, 0, 0>>
      iex> Chunker.NAR.feed(r, nar)
      {:ok, []}
      iex> Chunker.NAR.finish(r)
      {:error, {:nar, 24, :truncated}}
  """
  @spec open_reader() :: {:ok, reader()}
  def open_reader, do: {:ok, Native.nar_reader_open()}

  @doc "Feeds the next bytes; returns the entries whose headers they complete."
  @spec feed(reader(), binary()) :: {:ok, [Entry.t()]} | {:error, reason()}
  def feed(reader, data) when is_reference(reader) and is_binary(data),
    do: to_entries(with_reader(reader, &feed_native(&1, data)))

  def feed(reader, data) do
    raise ArgumentError,
          "expected a reader from Chunker.NAR.open_reader/0 and a binary, got: " <>
            "#{inspect(reader, limit: 5)}, #{inspect(data, limit: 5)}"
  end

  @doc "Ends the input; `{:ok, nar_size}` if the NAR is complete."
  @spec finish(reader()) :: {:ok, non_neg_integer()} | {:error, reason()}
  def finish(reader) when is_reference(reader),
    do: with_reader(reader, &Native.nar_reader_finish/1)

  def finish(reader),
    do:
      raise(
        ArgumentError,
        "expected a reader from Chunker.NAR.open_reader/0, got: #{inspect(reader, limit: 5)}"
      )

  @doc """
  Lazily parses an enumerable of binaries (e.g. `File.stream!(path, [],
  1_048_576)`) into entries. Raises `Chunker.Error` on a malformed NAR.

      iex> dir = Path.join(System.tmp_dir!(), "nar_doc_#{System.unique_integer([:positive])}")
      iex> File.write!(dir, "#!/bin/sh\\n")
      iex> File.chmod!(dir, 0o755)
      iex> nar = Chunker.NAR.dump!(dir)
      iex> File.rm!(dir)
      iex> pieces = for i <- 0..(byte_size(nar) - 1)//7, do: binary_part(nar, i, min(7, byte_size(nar) - i))
      iex> [entry] = pieces |> Chunker.NAR.stream_entries() |> Enum.to_list()
      iex> {entry.type, entry.size, binary_part(nar, entry.offset, entry.size)}
      {:executable, 10, "#!/bin/sh\\n"}
  """
  @spec stream_entries(Enumerable.t()) :: Enumerable.t()
  def stream_entries(enumerable) do
    if is_list(enumerable) and not Options.proper_list?(enumerable),
      do: raise(ArgumentError, "expected an enumerable of binaries, got an improper list")

    eof = make_ref()

    Stream.transform(
      Stream.concat(enumerable, [eof]),
      fn -> elem(open_reader(), 1) end,
      fn
        ^eof, r ->
          bang(finish(r))
          {[], r}

        data, r ->
          {bang(feed(r, data)), r}
      end,
      fn _ -> :ok end
    )
  end

  @doc """
  Unpacks a NAR binary into `dest`, which must not exist.

      iex> dir = Path.join(System.tmp_dir!(), "nar_doc_#{System.unique_integer([:positive])}")
      iex> File.mkdir_p!(dir)
      iex> File.write!(Path.join(dir, "f"), "data")
      iex> nar = Chunker.NAR.dump!(dir)
      iex> :ok = Chunker.NAR.unpack(nar, dir <> ".out")
      iex> result = {File.read!(Path.join(dir <> ".out", "f")), Chunker.NAR.unpack(nar, dir)}
      iex> File.rm_rf!(dir)
      iex> File.rm_rf!(dir <> ".out")
      iex> result
      {"data", {:error, {:file, :eexist}}}
  """
  @spec unpack(binary(), Path.t()) :: :ok | {:error, reason()}
  def unpack(nar, dest) when is_binary(nar), do: Native.nar_unpack(nar, path_string(dest))

  def unpack(other, _),
    do: raise(ArgumentError, "expected a binary, got: #{inspect(other, limit: 5)}")

  @doc "Like `unpack/2` but raises `Chunker.Error` on failure."
  @spec unpack!(binary(), Path.t()) :: :ok
  def unpack!(nar, dest), do: ok!(unpack(nar, dest))

  @doc "Unpacks the NAR file at `path` into `dest` (streaming, bounded memory)."
  @spec unpack_file(Path.t(), Path.t()) :: :ok | {:error, reason()}
  def unpack_file(path, dest), do: Native.nar_unpack_file(path_string(path), path_string(dest))

  @doc "Like `unpack_file/2` but raises `Chunker.Error` on failure."
  @spec unpack_file!(Path.t(), Path.t()) :: :ok
  def unpack_file!(path, dest), do: ok!(unpack_file(path, dest))

  @doc ~S"""
  Chunks a NAR. Options: those of `Chunker.chunk/2`, plus

    * `:nar_aware` - chunk along the NAR's structure (default `false`:
      plain FastCDC, identical to `Chunker.chunk/2`)
    * `:metadata_chunks` - with `:nar_aware`, the header and each large
      file's metadata as separate chunks (default `true`)
    * `:references` - store-path hashes (or store paths) to normalise
      (default `[]`)

  Returns `%{chunks: [Chunker.NAR.Chunk.t()], entries: [Entry.t()],
  patches: binary()}`; `patches` is the compact patch list for `rebuild/3`
  (a single zero byte when nothing was replaced).

      iex> dir = Path.join(System.tmp_dir!(), "nar_doc_#{System.unique_integer([:positive])}")
      iex> File.mkdir_p!(dir)
      iex> ref = "0c4hqa3ncbsdf2n5ldcb9jz3xmcm9h4b"
      iex> File.write!(Path.join(dir, "big"), :binary.copy("/nix/store/#{ref}-glibc ", 100))
      iex> nar = Chunker.NAR.dump!(dir)
      iex> File.rm_rf!(dir)
      iex> opts = [min_size: 256, avg_size: 1024, max_size: 4096, nar_aware: true, payloads: true]
      iex> {:ok, %{chunks: chunks, patches: patches}} = Chunker.NAR.chunk(nar, [references: [ref]] ++ opts)
      iex> Enum.map(chunks, & &1.kind) |> Enum.uniq()
      [:metadata, :contents]
      iex> Chunker.NAR.rebuild(Enum.map(chunks, & &1.data), patches, [ref]) == {:ok, nar}
      true
  """
  @spec chunk(binary(), keyword()) ::
          {:ok, %{chunks: [Chunk.t()], entries: [Entry.t()], patches: binary()}}
          | {:error, reason()}
  def chunk(nar, opts \\ [])

  def chunk(nar, opts) when is_binary(nar) do
    extra = [:nar_aware, :metadata_chunks, :references]

    with {:ok, {sizes, hash, payloads}} <- Options.chunking(opts, extra),
         {:ok, aware} <- flag(opts, :nar_aware, false),
         {:ok, meta} <- flag(opts, :metadata_chunks, true),
         {:ok, refs} <- references(Keyword.get(opts, :references, [])),
         {:ok, chunks, entries, patches} <-
           Native.nar_chunk(nar, sizes, hash, payloads, aware, meta, refs) do
      {:ok,
       %{
         chunks: Enum.map(chunks, &Chunk.from_tuple/1),
         entries: Enum.map(entries, &Entry.from_tuple/1),
         patches: patches
       }}
    end
  end

  def chunk(other, _),
    do: raise(ArgumentError, "expected a binary, got: #{inspect(other, limit: 5)}")

  @doc "Like `chunk/2` but returns the result or raises `Chunker.Error`."
  @spec chunk!(binary(), keyword()) :: %{
          chunks: [Chunk.t()],
          entries: [Entry.t()],
          patches: binary()
        }
  def chunk!(nar, opts \\ []), do: bang(chunk(nar, opts))

  @doc ~S"""
  Replaces every occurrence of the given store-path hashes in `data` by the
  placeholder (32 `e`s, never a valid hash); returns the normalised bytes
  and the compact patch list.

      iex> ref = "0c4hqa3ncbsdf2n5ldcb9jz3xmcm9h4b"
      iex> {:ok, norm, patches} = Chunker.NAR.normalize("see /nix/store/#{ref}-x", ["/nix/store/#{ref}-x"])
      iex> norm
      "see /nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x"
      iex> Chunker.NAR.rebuild([norm], patches, [ref])
      {:ok, "see /nix/store/0c4hqa3ncbsdf2n5ldcb9jz3xmcm9h4b-x"}

      iex> Chunker.NAR.normalize("x", ["not-a-hash"])
      {:error, {:invalid_reference, 0}}
  """
  @spec normalize(binary(), [reference_hash()]) :: {:ok, binary(), binary()} | {:error, reason()}
  def normalize(data, refs) when is_binary(data) do
    with {:ok, refs} <- references(refs), do: Native.nar_normalize(data, refs)
  end

  def normalize(other, _),
    do: raise(ArgumentError, "expected a binary, got: #{inspect(other, limit: 5)}")

  @doc """
  Rebuilds the original bytes from the (normalised) chunk data in order,
  the patch list and the references it was made with.
  """
  @spec rebuild([binary()], binary(), [reference_hash()]) :: {:ok, binary()} | {:error, reason()}
  def rebuild(chunks, patches, refs) when is_list(chunks) and is_binary(patches) do
    unless Options.proper_list?(chunks) and Enum.all?(chunks, &is_binary/1),
      do: raise(ArgumentError, "expected a list of binaries as chunks")

    with {:ok, refs} <- references(refs), do: Native.nar_rebuild(chunks, patches, refs)
  end

  def rebuild(chunks, patches, _refs) do
    raise ArgumentError,
          "expected a list of binaries and a patch binary, got: " <>
            "#{inspect(chunks, limit: 5)}, #{inspect(patches, limit: 5)}"
  end

  # A hash from "<hash>", "<hash>-name" or "/nix/store/<hash>-name"; other
  # strings are passed on for the core to reject with their index.
  defp references(refs) when is_list(refs) do
    unless Options.proper_list?(refs),
      do: raise(ArgumentError, "expected a list of references, got an improper list")

    {:ok,
     Enum.map(refs, fn
       "/nix/store/" <> <<hash::binary-size(32), rest::binary>>
       when rest == "" or binary_part(rest, 0, 1) == "-" ->
         hash

       <<hash::binary-size(32), "-", _::binary>> ->
         hash

       ref when is_binary(ref) ->
         ref

       other ->
         raise ArgumentError, "expected references as strings, got: #{inspect(other, limit: 5)}"
     end)}
  end

  defp references(other),
    do: raise(ArgumentError, "expected a list of references, got: #{inspect(other, limit: 5)}")

  defp flag(opts, key, default) do
    case Keyword.get(opts, key, default) do
      value when is_boolean(value) -> {:ok, value}
      value -> {:error, {:invalid_options, {key, "must be a boolean, got: #{inspect(value)}"}}}
    end
  end

  # Normal scheduler for a bounded number of steps, the rest on a dirty one.
  defp feed_native(reader, data) do
    case Native.nar_reader_feed(reader, data) do
      {:more, consumed, entries} ->
        rest = binary_part(data, consumed, byte_size(data) - consumed)

        case Native.nar_reader_feed_dirty(reader, rest) do
          {:ok, more} -> {:ok, entries ++ more}
          error -> error
        end

      result ->
        result
    end
  end

  # A reference that is not a reader makes the NIF raise a bare badarg.
  defp with_reader(reader, fun) do
    fun.(reader)
  rescue
    ArgumentError ->
      reraise ArgumentError,
              [
                message:
                  "expected a reader from Chunker.NAR.open_reader/0, got: #{inspect(reader)}"
              ],
              __STACKTRACE__
  end

  defp to_entries({:ok, tuples}), do: {:ok, Enum.map(tuples, &Entry.from_tuple/1)}
  defp to_entries({:error, _} = error), do: error

  defp path_string(path) do
    IO.chardata_to_string(path)
  rescue
    _ -> raise ArgumentError, "expected a path, got: #{inspect(path, limit: 5)}"
  end

  defp ok!(:ok), do: :ok
  defp ok!({:error, reason}), do: raise(Chunker.Error, reason: reason)

  defp bang({:ok, value}), do: value
  defp bang({:error, reason}), do: raise(Chunker.Error, reason: reason)
end
