defmodule Chunker.NAR do
  @moduledoc """
  Nix archives (NAR), the serialisation `nix-store --dump` produces.

  `dump/1` serialises a file, symlink or directory tree byte-identically to
  `nix-store --dump` (symlinks are never followed; a file is executable in
  the NAR when its owner-execute bit is set). Work runs on a DirtyIo
  scheduler.

  Errors: `{:file, posix}` (e.g. `{:file, :enoent}`) and
  `{:unsupported_file_type, path}` for sockets, FIFOs and devices.
  """

  alias Chunker.Native

  @type reason :: {:file, atom()} | {:unsupported_file_type, String.t()} | term()

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

  defp path_string(path) do
    IO.chardata_to_string(path)
  rescue
    _ -> raise ArgumentError, "expected a path, got: #{inspect(path, limit: 5)}"
  end

  defp bang({:ok, value}), do: value
  defp bang({:error, reason}), do: raise(Chunker.Error, reason: reason)
end
