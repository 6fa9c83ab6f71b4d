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
  # benchmark aid: {:ok, chunk_count}, the core's cut without term building
  def chunk_count_dirty(_data, _sizes), do: err()

  # --- hashing (Chunker.Hash) ---
  def hash(_data, _algo), do: err()
  def hash_dirty(_data, _algo), do: err()
  def hash_open(_algo), do: err()
  def hash_update(_handle, _data), do: err()
  def hash_update_dirty(_handle, _data), do: err()
  def hash_finish(_handle), do: err()
  def hash_finish_dirty(_handle), do: err()
  def hash_batch(_items, _algo), do: err()
  def hash_batch_dirty(_items, _algo), do: err()

  # --- Nix encodings, store paths (Chunker.Nix) ---
  def base32_encode(_data), do: err()
  def base32_decode(_data), do: err()
  def hash_parse(_string, _algo), do: err()
  def hash_format(_algo, _digest, _encoding, _with_algo), do: err()
  def store_path_parse(_path), do: err()
  def fixed_output_path(_name, _algo, _digest, _recursive, _references), do: err()
  def base32_encode_dirty(_data), do: err()
  def base32_decode_dirty(_data), do: err()
  def hash_parse_dirty(_string, _algo), do: err()
  def store_path_parse_dirty(_path), do: err()
  def nar_sha256(_path), do: err()

  # --- compression (Chunker.Compress) ---
  def compress(_data, _algo, _level), do: err()
  def decompress(_data, _format, _limit), do: err()
  def compress_detect(_data), do: err()
  def compress_auto(_data, _algo, _level, _min_savings), do: err()
  def compress_batch(_items, _algo, _level), do: err()
  def decompress_batch(_items, _algo, _limit), do: err()
  def compress_encoder_open(_algo, _level), do: err()
  def compress_decoder_open(_format, _limit), do: err()
  def compress_stream_update(_handle, _data), do: err()
  def compress_stream_finish(_handle), do: err()
  def zstd_dict_train(_samples, _max_size), do: err()
  def zstd_dict_load(_raw, _level), do: err()
  def zstd_dict_info(_dict), do: err()
  def zstd_dict_compress(_dict, _data), do: err()
  def zstd_dict_decompress(_dict, _data, _limit), do: err()
  def compress_core_seconds(_data, _algo, _level, _runs), do: err()

  # --- keys, narinfo (Chunker.Nix.Key, Chunker.Nix.Narinfo) ---
  def key_generate(_name), do: err()
  def key_parse_secret(_string), do: err()
  def key_parse_public(_string), do: err()
  def key_format_secret(_secret), do: err()
  def key_sign(_secret, _message), do: err()
  def key_sign_dirty(_secret, _message), do: err()
  def key_parse_signature(_string), do: err()
  def key_verify(_message, _signatures, _trusted), do: err()
  def key_verify_dirty(_message, _signatures, _trusted), do: err()
  def narinfo_parse(_text), do: err()
  def narinfo_parse_dirty(_text), do: err()
  def narinfo_serialize(_narinfo), do: err()
  def narinfo_fingerprint(_narinfo), do: err()
  def narinfo_verify(_narinfo, _trusted), do: err()
  def narinfo_verify_dirty(_narinfo, _trusted), do: err()

  # --- NAR (Chunker.NAR) ---
  def nar_dump(_path), do: err()
  def nar_dump_to_file(_path, _dest), do: err()
  def nar_entries(_nar), do: err()
  def nar_read_file(_path), do: err()
  def nar_reader_open, do: err()
  def nar_reader_feed(_handle, _data), do: err()
  def nar_reader_feed_dirty(_handle, _data), do: err()
  def nar_reader_finish(_handle), do: err()
  def nar_unpack(_nar, _dest), do: err()
  def nar_unpack_file(_path, _dest), do: err()
  def nar_chunk(_nar, _sizes, _hash, _payloads, _aware, _meta, _refs), do: err()
  def nar_normalize(_nar, _refs), do: err()
  def nar_rebuild(_chunks, _patches, _refs), do: err()

  # --- scheduler probe (test/reliability) ---
  def timeslice_probe(_on), do: err()

  # --- pipeline, batch, cache, metrics (Chunker.Pipeline) ---
  def pipeline_open(_tag, _sizes, _hash, _compress, _known, _payloads, _max_in_flight, _cache),
    do: err()

  def pipeline_check(_sizes, _hash, _compress), do: err()
  def pipeline_feed(_ingest, _data), do: err()
  def pipeline_start_binary(_ingest, _tag, _data, _slice), do: err()
  def pipeline_start_file(_ingest, _tag, _path, _slice), do: err()
  def cdc_set_parallel_threshold(_bytes), do: err()
  def cdc_parallel_threshold, do: err()
  def pipeline_finish(_ingest), do: err()
  def pipeline_ack(_ingest, _bytes), do: err()
  def pipeline_decide(_ingest, _answers), do: err()
  def pipeline_cancel(_ingest), do: err()
  def pipeline_sequential(_data, _sizes, _hash, _compress), do: err()
  def chunk_batch(_items, _sizes, _hash, _parallel), do: err()
  def chunk_files_batch(_paths, _sizes, _hash, _parallel), do: err()
  def cache_new(_max_entries, _max_memory_bytes), do: err()
  def cache_stats(_cache), do: err()
  def cache_digest(_cache, _data, _hash), do: err()
  def metrics_configure(_rate), do: err()
  def metrics_reset, do: err()
  def metrics_snapshot, do: err()
  def pool_configure(_threads), do: err()
  def pool_threads, do: err()
end
