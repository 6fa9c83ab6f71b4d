defmodule Chunker.Cache do
  @moduledoc """
  A bounded LRU cache of chunk digests, keyed by content, shared by
  reference (pass it to `Chunker.Pipeline.ingest/2` as `cache:`).

  A lookup fingerprints the chunk with XXH3 and returns a cached digest
  only after comparing the cached bytes with the chunk's in full, so it can
  never return a wrong digest. It keeps a copy of every cached chunk, bounded
  by `:max_memory_bytes`. See the README for when it pays off.
  """

  @enforce_keys [:ref]
  defstruct [:ref]

  @opaque t :: %__MODULE__{ref: reference()}

  @doc """
  A new cache.

    * `:max_entries` - default 4096
    * `:max_memory_bytes` - default 64 MiB (cached bytes plus 96 bytes per entry)

      iex> cache = Chunker.Cache.new(max_entries: 2)
      iex> Chunker.Cache.digest(cache, "abc") == :crypto.hash(:sha256, "abc")
      true
      iex> Chunker.Cache.digest(cache, "abc") == :crypto.hash(:sha256, "abc")
      true
      iex> Chunker.Cache.stats(cache)
      %{hits: 1, misses: 1, evictions: 0, entries: 1, memory_bytes: 99}
  """
  @spec new(keyword()) :: t()
  def new(opts \\ []) do
    unless Keyword.keyword?(opts),
      do: raise(ArgumentError, "expected a keyword list, got: #{inspect(opts, limit: 5)}")

    entries = Keyword.get(opts, :max_entries, 4096)
    memory = Keyword.get(opts, :max_memory_bytes, 64 * 1_048_576)

    for {k, v} <- [max_entries: entries, max_memory_bytes: memory],
        not (is_integer(v) and v >= 0) do
      raise ArgumentError, "#{k} must be a non-negative integer, got: #{inspect(v, limit: 5)}"
    end

    %__MODULE__{ref: Chunker.Native.cache_new(entries, memory)}
  end

  @doc "The digest of `data` (`:sha256` or `:blake3`) through the cache."
  @spec digest(t(), binary(), :sha256 | :blake3) :: <<_::256>>
  def digest(cache, data, algo \\ :sha256)

  def digest(%__MODULE__{ref: ref}, data, algo)
      when is_binary(data) and algo in [:sha256, :blake3],
      do: Chunker.Native.cache_digest(ref, data, algo)

  def digest(cache, data, algo) do
    raise ArgumentError,
          "expected a Chunker.Cache, a binary and :sha256 or :blake3, got: " <>
            Enum.map_join([cache, data, algo], ", ", &inspect(&1, limit: 5))
  end

  @doc "Hit, miss and eviction counters and the current size."
  @spec stats(t()) :: %{
          hits: non_neg_integer(),
          misses: non_neg_integer(),
          evictions: non_neg_integer(),
          entries: non_neg_integer(),
          memory_bytes: non_neg_integer()
        }
  def stats(%__MODULE__{ref: ref}) do
    {hits, misses, evictions, entries, memory} = Chunker.Native.cache_stats(ref)
    %{hits: hits, misses: misses, evictions: evictions, entries: entries, memory_bytes: memory}
  end

  def stats(other),
    do: raise(ArgumentError, "expected a Chunker.Cache, got: #{inspect(other, limit: 5)}")
end
