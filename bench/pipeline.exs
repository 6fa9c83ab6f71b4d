# End-to-end ingest: chunk + SHA-256 + zstd on real data (the OTP
# installation concatenated, 256 MiB by default).
#
#   mix run bench/pipeline.exs            # PIPELINE_BENCH_MIB=64 for a quick run
#
# For zstd levels 1 and 3 it measures, in the same run, the pipeline
# (`Chunker.Pipeline.ingest/2`, consumed with `Stream.run/1`) and the same
# stages one after another on one thread (`Chunker.Pipeline.sequential/2`),
# and prints MB/s and the speed-up. During the pipeline runs it also records
# the peak RSS growth and how late a process sleeping 1 ms in a loop on a
# normal scheduler wakes up. Then metrics off vs sampled vs always on.
Code.require_file("support/harness.exs", __DIR__)

defmodule Bench.Pipeline do
  @mib String.to_integer(System.get_env("PIPELINE_BENCH_MIB", "256"))
  @runs String.to_integer(System.get_env("PIPELINE_BENCH_RUNS", "3"))

  def run do
    data = Bench.Harness.real_data(@mib * 1_048_576)
    bytes = byte_size(data)
    max_in_flight = Chunker.Config.get().max_in_flight_bytes

    IO.puts(
      "# #{@mib} MiB real data, #{Chunker.Native.pool_threads()} worker threads, " <>
        "#{System.schedulers_online()} schedulers, max_in_flight_bytes #{max_in_flight}"
    )

    IO.puts(
      "\n| case | median s | MB/s | speed-up vs sequential | CPU s per run | peak RSS growth MiB | max sleeper lateness ms |"
    )

    IO.puts("| --- | --- | --- | --- | --- | --- | --- |")

    results =
      for level <- [1, 3] do
        opts = [compress: :zstd, level: level]

        {seq, seq_cpu} =
          cpu(fn -> median(fn -> {:ok, _} = Chunker.Pipeline.sequential(data, opts) end) end)

        {{pipe, rss, late}, pipe_cpu} = cpu(fn -> measure_pipeline(data, opts) end)
        row("sequential zstd-#{level}", seq, bytes, nil, seq_cpu, nil, nil)
        row("pipeline zstd-#{level}", pipe, bytes, seq / pipe, pipe_cpu, rss, late)
        %{level: level, mbs: bytes / pipe / 1.0e6, speedup: seq / pipe, rss: rss, late: late}
      end

    IO.puts("\n## metrics overhead (pipeline zstd-1)")
    IO.puts("| metrics | median s | MB/s | vs off |")
    IO.puts("| --- | --- | --- | --- |")
    opts = [compress: :zstd, level: 1]
    rate = Chunker.Config.get().metrics_sample_rate

    timings =
      for {name, r} <- [{"off", 0.0}, {"sampled 1%", 0.01}, {"always (1.0)", 1.0}] do
        :ok = Chunker.Metrics.set_sample_rate(r)
        {name, median(fn -> data |> Chunker.Pipeline.ingest!(opts) |> Stream.run() end)}
      end

    :ok = Chunker.Metrics.set_sample_rate(rate)
    {_, off} = hd(timings)

    for {name, t} <- timings do
      IO.puts("| #{name} | #{f(t, 3)} | #{f(bytes / t / 1.0e6, 1)} | #{f(off / t, 3)} |")
    end

    results
  end

  defp row(name, t, bytes, speedup, cpu, rss, late) do
    IO.puts(
      "| #{name} | #{f(t, 3)} | #{f(bytes / t / 1.0e6, 1)} | " <>
        "#{if speedup, do: f(speedup, 2) <> "x", else: "-"} | #{f(cpu, 3)} | " <>
        "#{if rss, do: f(rss / 1_048_576, 1), else: "-"} | #{if late, do: f(late, 2), else: "-"} |"
    )
  end

  # The value of `fun` and the process CPU time (all threads: BEAM and the
  # worker pool) per timed run (warm-up included in neither count).
  defp cpu(fun) do
    t0 = cpu_seconds()
    value = fun.()
    {value, (cpu_seconds() - t0) / (@runs + 1)}
  end

  defp cpu_seconds do
    fields = File.read!("/proc/self/stat") |> String.split(") ") |> List.last() |> String.split()
    # utime and stime are fields 14 and 15 (11 and 12 after the name), in ticks of 10 ms.
    (String.to_integer(Enum.at(fields, 11)) + String.to_integer(Enum.at(fields, 12))) / 100
  end

  defp median(fun) do
    fun.()

    times =
      for _ <- 1..@runs do
        t0 = System.monotonic_time(:microsecond)
        fun.()
        (System.monotonic_time(:microsecond) - t0) / 1.0e6
      end

    Enum.at(Enum.sort(times), div(@runs, 2))
  end

  # Median time, peak RSS growth (bytes) over all runs and worst lateness (ms).
  defp measure_pipeline(data, opts) do
    run = fn -> data |> Chunker.Pipeline.ingest!(opts) |> Stream.run() end
    run.()
    :erlang.garbage_collect()
    baseline = rss()
    sampler = spawn_probe(fn -> rss() end, 5, &max/2)
    sleeper = spawn_probe(&sleep_lateness/0, 0, &max/2)

    times =
      for _ <- 1..@runs do
        t0 = System.monotonic_time(:microsecond)
        run.()
        (System.monotonic_time(:microsecond) - t0) / 1.0e6
      end

    peak = stop_probe(sampler)
    late = stop_probe(sleeper)
    {Enum.at(Enum.sort(times), div(@runs, 2)), peak - baseline, late}
  end

  defp sleep_lateness do
    t0 = System.monotonic_time(:microsecond)
    Process.sleep(1)
    (System.monotonic_time(:microsecond) - t0 - 1000) / 1000
  end

  # A process calling `probe` in a loop (pausing `pause` ms), folding values.
  defp spawn_probe(probe, pause, fold) do
    spawn_link(fn -> probe_loop(probe, pause, fold, probe.()) end)
  end

  defp probe_loop(probe, pause, fold, acc) do
    receive do
      {:stop, from} -> send(from, {:probe, acc})
    after
      pause -> probe_loop(probe, pause, fold, fold.(probe.(), acc))
    end
  end

  defp stop_probe(pid) do
    send(pid, {:stop, self()})

    receive do
      {:probe, v} -> v
    end
  end

  defp rss do
    [_, resident | _] = File.read!("/proc/self/statm") |> String.split()
    String.to_integer(resident) * 4096
  end

  defp f(x, d), do: :erlang.float_to_binary(x / 1, decimals: d)
end

Bench.Pipeline.run()
