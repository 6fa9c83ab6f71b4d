defmodule Chunker.Metrics do
  @moduledoc """
  Pipeline counters and latency histograms, kept in the native library.

  Off by default (`CHUNKER_METRICS_SAMPLE_RATE=0`): each probe then costs one
  atomic load. With a rate in (0, 1], counters are exact and one operation
  in `1 / rate` per worker thread is timed into a log-bucketed histogram
  (4 buckets per power of two: percentiles are upper bounds within 19%).
  Stage times are estimated from the sampled ones.

  `:telemetry` events (`[:chunker, :ingest, :stop]` with `duration`, `bytes`
  and `chunks`) are emitted only when the `:telemetry` application is loaded;
  it is not a dependency.
  """

  alias Chunker.Native

  @typedoc "Per-stage numbers; times in nanoseconds."
  @type stage :: %{
          ops: non_neg_integer(),
          bytes: non_neg_integer(),
          total_ns: non_neg_integer(),
          samples: non_neg_integer(),
          p50_ns: non_neg_integer(),
          p99_ns: non_neg_integer(),
          p999_ns: non_neg_integer()
        }

  @type t :: %{
          enabled: boolean(),
          sample_every: non_neg_integer(),
          chunks: non_neg_integer(),
          chunk_bytes: non_neg_integer(),
          known_chunks: non_neg_integer(),
          dedup_saved_bytes: non_neg_integer(),
          compress_in_bytes: non_neg_integer(),
          compress_out_bytes: non_neg_integer(),
          compression_saved_bytes: integer(),
          stages: %{chunk: stage(), hash: stage(), compress: stage()}
        }

  @doc """
  Reads every counter and histogram.

      iex> snapshot = Chunker.Metrics.snapshot()
      iex> Map.keys(snapshot.stages) |> Enum.sort()
      [:chunk, :compress, :hash]
  """
  @spec snapshot() :: t()
  def snapshot do
    {{enabled, every, chunks, chunk_bytes}, {known, known_bytes, c_in, c_out}, stages} =
      Native.metrics_snapshot()

    %{
      enabled: enabled,
      sample_every: every,
      chunks: chunks,
      chunk_bytes: chunk_bytes,
      known_chunks: known,
      dedup_saved_bytes: known_bytes,
      compress_in_bytes: c_in,
      compress_out_bytes: c_out,
      compression_saved_bytes: c_in - c_out,
      stages:
        Map.new(stages, fn {name, {ops, bytes, total, samples}, {p50, p99, p999}} ->
          {name,
           %{
             ops: ops,
             bytes: bytes,
             total_ns: total,
             samples: samples,
             p50_ns: p50,
             p99_ns: p99,
             p999_ns: p999
           }}
        end)
    }
  end

  @doc """
  Sets the sample rate (0.0 turns metrics off) at run time.

      iex> Chunker.Metrics.set_sample_rate(2.0)
      {:error, "sample rate 2 is not in 0.0..1.0"}
  """
  @spec set_sample_rate(number()) :: :ok | {:error, String.t()}
  def set_sample_rate(rate) when is_number(rate), do: Native.metrics_configure(rate / 1)

  def set_sample_rate(rate),
    do: raise(ArgumentError, "expected a number in 0.0..1.0, got: #{inspect(rate, limit: 5)}")

  @doc "Zeroes every counter and histogram."
  @spec reset() :: :ok
  def reset, do: Native.metrics_reset()

  @doc false
  # Emits a :telemetry event if the :telemetry application is loaded.
  def emit(event, measurements, metadata) do
    if telemetry?(), do: apply(:telemetry, :execute, [event, measurements, metadata])
    :ok
  end

  defp telemetry? do
    Code.ensure_loaded?(:telemetry) and function_exported?(:telemetry, :execute, 3)
  end
end
