# End-to-end ingest: chunk + SHA-256 + zstd on real data (the OTP
# installation concatenated, 256 MiB by default).
#
#   mix run bench/pipeline.exs            # PIPELINE_BENCH_MIB=64 for a quick run
#
# For zstd levels 1 and 3 it measures, in the same run, the pipeline
# (`Chunker.Pipeline.ingest/2`, consumed with `Stream.run/1`) and the same
# stages one after another on one thread (`Chunker.Pipeline.sequential/2`),
# alternately (PIPELINE_BENCH_RUNS pairs, default 5), and prints median MB/s,
# the median of the per-pair speed-ups and the CPU time ratio. During the pipeline runs it also records
# the peak RSS growth and how late a process sleeping 1 ms in a loop on a
# normal scheduler wakes up, with the CPU time other processes used
# meanwhile. Then metrics off vs sampled vs always on.
Code.require_file("support/harness.exs", __DIR__)

defmodule Bench.Pipeline do
  @mib String.to_integer(System.get_env("PIPELINE_BENCH_MIB", "256"))
  @runs String.to_integer(System.get_env("PIPELINE_BENCH_RUNS", "5"))

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
        seq_run = fn -> {:ok, _} = Chunker.Pipeline.sequential(data, opts) end
        pipe_run = fn -> data |> Chunker.Pipeline.ingest!(opts) |> Stream.run() end

        %{
          seq: seq,
          pipe: pipe,
          ratio: ratio,
          seq_cpu: seq_cpu,
          pipe_cpu: pipe_cpu,
          rss: rss,
          late: late,
          others: others
        } = pairs(seq_run, pipe_run)

        row("sequential zstd-#{level}", seq, bytes, nil, seq_cpu, nil, nil)
        row("pipeline zstd-#{level}", pipe, bytes, ratio, pipe_cpu, rss, late)

        IO.puts(
          "| (CPU s pipeline / sequential: #{f(pipe_cpu / seq_cpu, 3)}; other processes " <>
            "used up to #{f(others, 2)} CPU s during a pipeline run) | | | | | | |"
        )

        %{level: level, mbs: bytes / pipe / 1.0e6, speedup: ratio, rss: rss, late: late}
      end

    IO.puts("\n## metrics overhead (pipeline zstd-1)")
    IO.puts("| metrics | median s | MB/s | vs off (median of per-round ratios) |")
    IO.puts("| --- | --- | --- | --- |")
    opts = [compress: :zstd, level: 1]
    rate = Chunker.Config.get().metrics_sample_rate
    rates = [{"off", 0.0}, {"sampled 1%", 0.01}, {"always (1.0)", 1.0}]
    run = fn -> data |> Chunker.Pipeline.ingest!(opts) |> Stream.run() end
    run.()

    # Rounds of one run per setting, in a rotating order.
    rounds =
      for i <- 1..@runs do
        order = Enum.drop(rates, rem(i, 3)) ++ Enum.take(rates, rem(i, 3))

        Map.new(order, fn {name, r} ->
          :ok = Chunker.Metrics.set_sample_rate(r)
          {name, elem(timed(run), 0)}
        end)
      end

    :ok = Chunker.Metrics.set_sample_rate(rate)
    mid = fn list -> Enum.at(Enum.sort(list), div(length(list), 2)) end

    for {name, _} <- rates do
      t = mid.(Enum.map(rounds, & &1[name]))
      vs_off = mid.(Enum.map(rounds, &(&1["off"] / &1[name])))
      IO.puts("| #{name} | #{f(t, 3)} | #{f(bytes / t / 1.0e6, 1)} | #{f(vs_off, 3)} |")
    end

    results
  end

  defp row(name, t, bytes, speedup, cpu, rss, late) do
    IO.puts(
      "| #{name} | #{f(t, 3)} | #{f(bytes / t / 1.0e6, 1)} | " <>
        "#{if speedup, do: f(speedup, 2) <> "x", else: "-"} | #{f(cpu, 3)} | " <>
        "#{if rss, do: f(rss / 1_048_576, 1), else: "-"} | #{late_cell(late)} |"
    )
  end

  # Runs `seq` and `pipe` alternately (after one warm-up each), so load
  # from elsewhere hits both alike. Median wall times, the median of the
  # per-pair ratios seq/pipe, median CPU seconds (all threads: BEAM and
  # the worker pool) of each, the worst sleeper lateness (ms) during the
  # pipeline runs and the peak RSS growth (bytes) of a pipeline run.
  defp pairs(seq, pipe) do
    # RSS growth from one pipeline run before any sequential one (whose
    # list of every chunk would raise the high-water mark).
    pipe.()
    :erlang.garbage_collect()
    baseline = rss()
    sampler = spawn_probe(fn -> rss() end, 5, &max/2)
    pipe.()
    rss_growth = stop_probe(sampler) - baseline
    seq.()

    runs =
      for i <- 1..@runs do
        # Alternate which goes first: the second of a pair may find the
        # machine calmer or busier.
        s = if rem(i, 2) == 1, do: timed(seq)
        sleeper = spawn_probe(&sleep_lateness/0, 0, &max/2)
        {busy0, ours0} = machine_ticks()
        p = timed(pipe)
        {busy1, ours1} = machine_ticks()
        late = stop_probe(sleeper)
        # CPU seconds other processes used during the pipeline run.
        others = max(busy1 - busy0 - (ours1 - ours0), 0) / 100
        {s || timed(seq), p, {late, others}}
      end

    mid = fn list -> Enum.at(Enum.sort(list), div(length(list), 2)) end

    %{
      seq: mid.(for {{t, _}, _, _} <- runs, do: t),
      pipe: mid.(for {_, {t, _}, _} <- runs, do: t),
      ratio: mid.(for {{s, _}, {p, _}, _} <- runs, do: s / p),
      seq_cpu: mid.(for {{_, c}, _, _} <- runs, do: c),
      pipe_cpu: mid.(for {_, {_, c}, _} <- runs, do: c),
      rss: rss_growth,
      late: Enum.max(for {_, _, {late, _}} <- runs, do: late),
      others: Enum.max(for {_, _, {_, others}} <- runs, do: others)
    }
  end

  # {wall seconds, CPU seconds of the whole OS process}; garbage from the
  # previous run (the sequential stages' list) is collected first, untimed.
  defp timed(fun) do
    :erlang.garbage_collect()
    c0 = cpu_seconds()
    t0 = System.monotonic_time(:microsecond)
    fun.()
    t = (System.monotonic_time(:microsecond) - t0) / 1.0e6
    {t, cpu_seconds() - c0}
  end

  defp cpu_seconds do
    fields = File.read!("/proc/self/stat") |> String.split(") ") |> List.last() |> String.split()
    # utime and stime are fields 14 and 15 (11 and 12 after the name), in ticks of 10 ms.
    (String.to_integer(Enum.at(fields, 11)) + String.to_integer(Enum.at(fields, 12))) / 100
  end

  defp late_cell(nil), do: "-"
  defp late_cell(late), do: f(late, 2)

  # Milliseconds late (a plain probe: reading scheduler statistics on every
  # tick would take CPU from the run it measures).
  defp sleep_lateness do
    t0 = System.monotonic_time(:microsecond)
    Process.sleep(1)
    (System.monotonic_time(:microsecond) - t0 - 1000) / 1000
  end

  # {busy ticks of the machine, ticks of this OS process}.
  defp machine_ticks do
    [_ | fields] = "/proc/stat" |> File.read!() |> String.split("\n") |> hd() |> String.split()

    [user, nice, system, _idle, _iowait, irq, softirq, steal | _] =
      Enum.map(fields, &String.to_integer/1)

    {user + nice + system + irq + softirq + steal, round(cpu_seconds() * 100)}
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
