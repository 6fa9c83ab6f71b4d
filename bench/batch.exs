# Batch chunking (parallel vs one thread, to place CHUNKER_BATCH_PARALLEL_THRESHOLD)
# and the digest cache (when does it pay off).
#
#   mix run bench/batch.exs
Code.require_file("support/harness.exs", __DIR__)

defmodule Bench.Batch do
  import Bitwise

  def run do
    real = Bench.Harness.real_data(64 * 1_048_576)
    config = Chunker.Config.get()
    opts = [min_size: 16_384, avg_size: 65_536, max_size: 262_144]

    IO.puts("## chunk_batch: one thread vs the pool (items of 16 KiB)")
    IO.puts("| total bytes | one thread µs | pool µs | pool speed-up |")
    IO.puts("| --- | --- | --- | --- |")

    for total <- [32_768, 65_536, 131_072, 262_144, 1_048_576, 8_388_608] do
      items = for i <- 0..(div(total, 16_384) - 1), do: binary_part(real, i * 16_384, 16_384)
      seq = time_with(config, 1 <<< 62, fn -> Chunker.Pipeline.chunk_batch!(items, opts) end)
      par = time_with(config, 0, fn -> Chunker.Pipeline.chunk_batch!(items, opts) end)
      IO.puts("| #{total} | #{f(seq)} | #{f(par)} | #{f(seq / par, 2)}x |")
    end

    Chunker.Config.put(config)

    IO.puts("\n## digest cache: pipeline ingest, hash only (compress: :none), 64 MiB")
    IO.puts("| data | hash | no cache MB/s | cache MB/s | cache speed-up |")
    IO.puts("| --- | --- | --- | --- | --- |")
    # 2 MiB repeated: every chunk after the first pass is a hit.
    repeated = :binary.copy(binary_part(real, 0, 2 * 1_048_576), 32)

    for {name, data} <- [{"real (few repeats)", real}, {"2 MiB repeated 32x", repeated}],
        hash <- [:sha256, :blake3] do
      run = fn cache ->
        extra = if cache, do: [cache: cache], else: []

        data
        |> Chunker.Pipeline.ingest!(opts ++ [hash: hash, compress: :none] ++ extra)
        |> Stream.run()
      end

      plain = median(fn -> run.(nil) end)

      cached =
        median(fn -> run.(Chunker.Cache.new(max_entries: 100_000, max_memory_bytes: 1 <<< 28)) end)

      mbs = fn t -> f(byte_size(data) / t, 1) end

      IO.puts(
        "| #{name} | #{hash} | #{mbs.(plain)} | #{mbs.(cached)} | #{f(plain / cached, 2)}x |"
      )
    end
  end

  defp time_with(config, threshold, fun) do
    Chunker.Config.put(%{config | batch_parallel_threshold: threshold})
    median(fun)
  end

  # Median µs of enough runs for about half a second.
  defp median(fun) do
    fun.()
    t0 = System.monotonic_time(:microsecond)
    fun.()
    once = max(System.monotonic_time(:microsecond) - t0, 1)
    runs = min(max(div(500_000, once), 3), 201)

    times =
      for _ <- 1..runs do
        t = System.monotonic_time(:microsecond)
        fun.()
        System.monotonic_time(:microsecond) - t
      end

    Enum.at(Enum.sort(times), div(runs, 2))
  end

  defp f(x, d \\ 0), do: :erlang.float_to_binary(x / 1, decimals: d)
end

Bench.Batch.run()
