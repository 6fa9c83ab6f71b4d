defmodule Chunker.Native do
  @moduledoc false
  # NIF stubs, replaced when priv/native/libchunker_nif.so loads.
  # Grouped by area; the public modules validate arguments before calling these.

  @on_load :load_nif

  def load_nif do
    path = :chunker |> :code.priv_dir() |> Path.join("native/libchunker_nif")
    :erlang.load_nif(String.to_charlist(path), 0)
  end

  defp err, do: :erlang.nif_error(:nif_not_loaded)

  # --- chunking (Chunker) ---
  def chunk(_data, _sizes, _hash, _payloads), do: err()
  def chunk_dirty(_data, _sizes, _hash, _payloads), do: err()
  def chunker_open(_sizes, _hash, _payloads), do: err()
  def chunker_feed(_handle, _data), do: err()
  def chunker_feed_dirty(_handle, _data), do: err()
  def chunker_finish(_handle), do: err()
  def chunk_file(_path, _sizes, _hash), do: err()

  # --- hashing (Chunker.Hash) ---

  # --- Nix encodings, store paths (Chunker.Nix) ---

  # --- compression (Chunker.Compress) ---

  # --- keys, narinfo (Chunker.Nix.Key, Chunker.Nix.Narinfo) ---

  # --- NAR (Chunker.NAR) ---
  def nar_dump(_path), do: err()
  def nar_dump_to_file(_path, _dest), do: err()

  # --- pipeline, batch, cache, metrics (Chunker.Pipeline) ---
end
