defmodule Chunker.Config do
  @moduledoc """
  Run-time settings of the pipeline, batch APIs and metrics, read once at
  application start from the environment, `config :chunker, ...` and a
  profile preset (in that order of precedence), validated, and kept in
  `:persistent_term`.

  | setting | environment | config key | default (`nar` profile) |
  | --- | --- | --- | --- |
  | profile | `CHUNKER_PROFILE` | `:profile` | `nar` |
  | one input chunked in parallel from (bytes) | `CHUNKER_PARALLEL_THRESHOLD` | `:parallel_threshold` | 4_194_304 |
  | a batch runs on the pool from (total bytes) | `CHUNKER_BATCH_PARALLEL_THRESHOLD` | `:batch_parallel_threshold` | 262_144 |
  | metrics sample rate | `CHUNKER_METRICS_SAMPLE_RATE` | `:metrics_sample_rate` | 0.0 (off) |
  | read slice cap (bytes) | `CHUNKER_READ_SLICE_CAP_BYTES` | `:read_slice_cap_bytes` | 1_048_576 |
  | worker threads | `RAYON_NUM_THREADS` | `:threads` | 0 (one per CPU) |
  | max in-flight bytes | - | `:max_in_flight_bytes` | 67_108_864 |

  The two thresholds are different decisions, each measured on its own:
  `:parallel_threshold` is where `Chunker.chunk/2` starts splitting one
  input over the cdc pool (the seam walk and hand-off cost a few MiB's
  worth; `cargo run --release -p chunker_bench -- --only cdc`), and
  `:batch_parallel_threshold` is where `Chunker.Pipeline.chunk_batch/2` and
  `batch_chunk_files/2` spread many items over the worker pool (hand-off
  only; `mix run bench/batch.exs`). The application passes
  `:parallel_threshold` to the native side at start (and `put/1` again).

  Invalid values make `load!/0` (and so the application start) raise
  `ArgumentError` naming the variable and the expected form.
  """

  @typedoc "The validated settings."
  @type t :: %{
          profile: :nar | :small_files | :throughput,
          parallel_threshold: non_neg_integer(),
          batch_parallel_threshold: non_neg_integer(),
          metrics_sample_rate: float(),
          read_slice_cap_bytes: pos_integer(),
          threads: non_neg_integer(),
          max_in_flight_bytes: pos_integer()
        }

  @profiles %{
    "nar" => %{
      profile: :nar,
      batch_parallel_threshold: 262_144,
      read_slice_cap_bytes: 1_048_576,
      max_in_flight_bytes: 64 * 1_048_576
    },
    "small-files" => %{
      profile: :small_files,
      batch_parallel_threshold: 65_536,
      read_slice_cap_bytes: 262_144,
      max_in_flight_bytes: 16 * 1_048_576
    },
    "throughput" => %{
      profile: :throughput,
      batch_parallel_threshold: 1_048_576,
      read_slice_cap_bytes: 4 * 1_048_576,
      max_in_flight_bytes: 256 * 1_048_576
    }
  }

  # {key, environment variable, parser}
  @settings [
    {:parallel_threshold, "CHUNKER_PARALLEL_THRESHOLD", :non_neg_integer},
    {:batch_parallel_threshold, "CHUNKER_BATCH_PARALLEL_THRESHOLD", :non_neg_integer},
    {:metrics_sample_rate, "CHUNKER_METRICS_SAMPLE_RATE", :rate},
    {:read_slice_cap_bytes, "CHUNKER_READ_SLICE_CAP_BYTES", :slice},
    {:threads, "RAYON_NUM_THREADS", :non_neg_integer},
    {:max_in_flight_bytes, nil, :positive_integer}
  ]

  @doc """
  Computes the settings from an environment map and the `:chunker`
  application environment (a keyword list).

      iex> {:ok, c} = Chunker.Config.load(%{"CHUNKER_PROFILE" => "small-files"}, [])
      iex> {c.profile, c.read_slice_cap_bytes, c.metrics_sample_rate}
      {:small_files, 262144, 0.0}

      iex> Chunker.Config.load(%{"CHUNKER_METRICS_SAMPLE_RATE" => "2"}, [])
      {:error, "invalid CHUNKER_METRICS_SAMPLE_RATE=\\"2\\": expected a number in 0.0..1.0"}
  """
  @spec load(%{optional(String.t()) => String.t()}, keyword()) ::
          {:ok, t()} | {:error, String.t()}
  def load(env, app_env) when is_map(env) and is_list(app_env) do
    unless Keyword.keyword?(app_env),
      do: raise(ArgumentError, "expected a keyword list, got: #{inspect(app_env, limit: 5)}")

    with {:ok, preset} <- profile(env, app_env) do
      Enum.reduce_while(@settings, {:ok, preset}, fn {key, var, kind}, {:ok, acc} ->
        case value(env, app_env, key, var, kind) do
          {:ok, nil} -> {:cont, {:ok, Map.put_new_lazy(acc, key, fn -> default(key) end)}}
          {:ok, v} -> {:cont, {:ok, Map.put(acc, key, v)}}
          {:error, _} = e -> {:halt, e}
        end
      end)
    end
  end

  def load(env, app_env) do
    raise ArgumentError,
          "expected a map and a keyword list, got: #{inspect(env, limit: 5)}, #{inspect(app_env, limit: 5)}"
  end

  @doc "Loads from `System.get_env/0` and the application environment; raises `ArgumentError` on invalid values."
  @spec load!() :: t()
  def load! do
    case load(System.get_env(), Application.get_all_env(:chunker)) do
      {:ok, config} -> config
      {:error, message} -> raise ArgumentError, "chunker configuration: " <> message
    end
  end

  @doc """
  Stores validated settings (a map like `get/0` returns) for `get/0`.

      iex> Chunker.Config.put(%{profile: :nar})
      ** (ArgumentError) expected the settings map of Chunker.Config.load/2, got: %{profile: :nar}
  """
  @spec put(t()) :: :ok
  def put(config) do
    {:ok, defaults} = load(%{}, [])

    valid? =
      is_map(config) and Map.keys(config) |> Enum.sort() == Map.keys(defaults) |> Enum.sort() and
        Enum.all?(@settings, fn {key, _, kind} ->
          value = Map.fetch!(config, key)
          not is_binary(value) and match?({:ok, _}, parse(kind, value, ""))
        end) and config.profile in [:nar, :small_files, :throughput]

    unless valid?,
      do:
        raise(
          ArgumentError,
          "expected the settings map of Chunker.Config.load/2, got: #{inspect(config, limit: 5)}"
        )

    :persistent_term.put(__MODULE__, config)
    Chunker.Native.cdc_set_parallel_threshold(config.parallel_threshold)
  end

  @doc """
  The current settings (loaded at application start; defaults if the
  application is not started).

      iex> Chunker.Config.get().max_in_flight_bytes > 0
      true
  """
  @spec get() :: t()
  def get do
    case :persistent_term.get(__MODULE__, nil) do
      nil ->
        {:ok, c} = load(%{}, [])
        c

      c ->
        c
    end
  end

  # The native core's own default (`cdc::DEFAULT_PARALLEL_THRESHOLD`).
  defp default(:parallel_threshold), do: 4_194_304
  defp default(:metrics_sample_rate), do: 0.0
  defp default(:threads), do: 0

  defp profile(env, app_env) do
    name = Map.get(env, "CHUNKER_PROFILE") || to_string(Keyword.get(app_env, :profile, "nar"))
    name = String.replace(name, "_", "-")

    case Map.fetch(@profiles, name) do
      {:ok, preset} ->
        {:ok, preset}

      :error ->
        {:error,
         "invalid CHUNKER_PROFILE=#{inspect(name)}: expected one of " <>
           Enum.join(Map.keys(@profiles) |> Enum.sort(), ", ")}
    end
  end

  defp value(env, app_env, key, var, kind) do
    case var && Map.get(env, var) do
      nil ->
        case Keyword.fetch(app_env, key) do
          {:ok, v} -> parse(kind, v, "config :chunker, #{key}: #{inspect(v)}")
          :error -> {:ok, nil}
        end

      "" ->
        {:ok, nil}

      raw ->
        parse(kind, String.trim(raw), "#{var}=#{inspect(raw)}")
    end
  end

  defp parse(kind, raw, what) when is_binary(raw) do
    parsed =
      case kind do
        :rate -> Float.parse(raw)
        _ -> Integer.parse(raw)
      end

    case parsed do
      {v, ""} -> parse(kind, v, what)
      _ -> {:error, "invalid #{what}: expected #{expected(kind)}"}
    end
  end

  defp parse(:rate, v, _) when is_number(v) and v >= 0 and v <= 1, do: {:ok, v / 1}
  defp parse(:non_neg_integer, v, _) when is_integer(v) and v >= 0, do: {:ok, v}
  defp parse(:positive_integer, v, _) when is_integer(v) and v > 0, do: {:ok, v}

  defp parse(:slice, v, _) when is_integer(v) and v >= 4096 and v <= 67_108_864,
    do: {:ok, v}

  defp parse(kind, _v, what), do: {:error, "invalid #{what}: expected #{expected(kind)}"}

  defp expected(:rate), do: "a number in 0.0..1.0"
  defp expected(:non_neg_integer), do: "a non-negative integer"
  defp expected(:positive_integer), do: "a positive integer"
  defp expected(:slice), do: "an integer in 4096..67108864"
end
