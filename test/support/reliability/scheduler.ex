defmodule Chunker.Reliability.Scheduler do
  @moduledoc false
  # Scheduler health, run inside a peer VM: while `total` bytes are chunked
  # (streams with dirty feeds, big eager calls on the parallel pool, the
  # pipeline, small eager calls and feeds on normal schedulers), hashed and
  # compressed (zstd/LZ4: eager, streaming, batch and in the pipeline), a
  # process on a normal scheduler sleeps 1 ms in a loop and records how
  # late it wakes, and `:erlang.system_monitor/2` reports every
  # long_schedule (>= 2 ms).

  @piece 64 * 1024
  @big 8 * 1024 * 1024
  @opts [min_size: 16_384, avg_size: 65_536, max_size: 262_144]

  @kinds [:stream, :big_eager, :pipeline, :small_eager, :small_feed_and_hash]

  @doc """
  Runs the workload on `total` bytes and returns its figures:

    * `late_max_us`, `late_over_10ms`, `ticks`: the sleeper's wall-clock
      lateness;
    * `beam_late_max_us`, `beam_over_10ms`: each tick's lateness minus
      the longest time a normal scheduler thread was kept waiting for a
      CPU by the OS meanwhile (`/proc/self/task/TID/schedstat`): what the
      BEAM itself (our NIFs running or blocking, processes) made it wait;
    * `os_wait_ms`: total time the normal scheduler threads spent
      runnable but waiting for a CPU during the run;
    * `others_cpu`: share of the machine's CPU time used by other processes
      during the run (0.0 on a machine of our own);
    * `nif_cpu_max_us`: the longest thread CPU time of one
      normal-scheduler NIF call (the NIF's time-charging probe): what our
      code held a scheduler for, without OS preemption;
    * `long_schedules`, `ours` (the events in `Chunker*` code),
      `nif_normal_us` (wall times of the normal-scheduler NIF calls),
      `control` (the sleeper alone for 500 ms first).
  """
  def run(total, kinds \\ @kinds) do
    block = block()
    tids = scheduler_tids()
    Chunker.Native.timeslice_probe(true)
    control = control(500, tids)
    monitor = spawn(fn -> collect([]) end)
    :erlang.system_monitor(monitor, [{:long_schedule, 2}])
    sleeper = spawn(fn -> sleep_loop(new_acc(), tids) end)
    cpu0 = cpu_ticks()
    waits0 = os_waits(tids)
    started = System.monotonic_time(:millisecond)

    # Five kinds of job, a fifth of the bytes each, two jobs at a time.
    n = length(kinds)
    jobs = for i <- 1..max(div(total, @big), n), do: Enum.at(kinds, rem(i, n))

    timings =
      jobs
      |> Task.async_stream(&job(&1, block), max_concurrency: 2, timeout: :infinity, ordered: false)
      |> Enum.flat_map(fn {:ok, t} -> t end)

    ms = System.monotonic_time(:millisecond) - started
    nif_cpu_max_us = Chunker.Native.timeslice_probe(false)
    cpu1 = cpu_ticks()
    waits1 = os_waits(tids)
    send(sleeper, {:stop, self()})
    lateness = receive(do: ({:lateness, l} -> l))
    :erlang.system_monitor(:undefined)
    send(monitor, {:stop, self()})
    events = receive(do: ({:events, e} -> e))
    sorted = Enum.sort(timings)

    %{
      control: control,
      bytes: length(jobs) * @big,
      ms: ms,
      late_max_us: lateness.max,
      late_over_10ms: lateness.over,
      beam_late_max_us: lateness.beam_max,
      beam_over_10ms: lateness.beam_over,
      ticks: lateness.ticks,
      others_cpu: others_share(cpu0, cpu1),
      os_wait_ms: div(Enum.sum(waits1) - Enum.sum(waits0), 1000),
      long_schedules: length(events),
      ours: Enum.filter(events, &ours?/1),
      events: Enum.take(events, 5),
      nif_cpu_max_us: nif_cpu_max_us,
      nif_normal_us: %{
        calls: length(sorted),
        median: Enum.at(sorted, div(length(sorted), 2)),
        p99: Enum.at(sorted, div(length(sorted) * 99, 100)),
        max: List.last(sorted)
      }
    }
  end

  # The sleeper alone for `ms`: how late it wakes with no work of ours
  # (the machine's own noise).
  defp control(ms, tids) do
    sleeper = spawn(fn -> sleep_loop(new_acc(), tids) end)
    Process.sleep(ms)
    send(sleeper, {:stop, self()})
    receive(do: ({:lateness, l} -> l))
  end

  # Each job chunks one block by its own path and compresses it, and
  # returns the wall times (µs) of its normal-scheduler NIF calls.
  defp job(:stream, block) do
    {:ok, z} = Chunker.Compress.open_compress(:zstd)

    block
    |> slices(1_048_576)
    |> Stream.each(fn slice -> {:ok, _} = Chunker.Compress.update(z, slice) end)
    |> Chunker.stream(@opts)
    |> Stream.run()

    {:ok, _} = Chunker.Compress.finish(z)
    []
  end

  defp job(:big_eager, block) do
    {:ok, _} = Chunker.chunk(block, @opts)
    {:ok, _} = Chunker.Compress.compress(block, :zstd)
    []
  end

  defp job(:pipeline, block) do
    {:ok, stream} = Chunker.Pipeline.ingest(block, @opts ++ [compress: :zstd, hash: :blake3])
    Stream.run(stream)
    []
  end

  defp job(:small_eager, block) do
    pieces = slices(block, @piece)

    times =
      for piece <- pieces do
        {us, {:ok, _}} = :timer.tc(fn -> Chunker.chunk(piece, @opts) end)
        us
      end

    for r <- Chunker.Compress.compress_batch(pieces, :lz4), do: {:ok, _} = r
    times
  end

  defp job(:small_feed_and_hash, block) do
    h = Chunker.open!(@opts)

    times =
      for piece <- slices(block, @piece) do
        {feed_us, {:ok, _}} = :timer.tc(fn -> Chunker.feed(h, piece) end)
        {hash_us, _} = :timer.tc(fn -> Chunker.Hash.hash(piece) end)
        [feed_us, hash_us]
      end

    Chunker.finish!(h)
    {:ok, _} = Chunker.Compress.compress(block, :lz4)
    List.flatten(times)
  end

  # Baseline, only run when asked for: OTP's own `:crypto` alone, SHA-256
  # of each 64 KiB piece and of the whole block, a well-behaved OTP NIF for
  # comparison: what long_schedule reports for it is the machine's floor.
  defp job(:otp_crypto, block) do
    for piece <- slices(block, @piece), do: :crypto.hash(:sha256, piece)
    _ = :crypto.hash(:sha256, block)
    []
  end

  # Negative control, only run when asked for: the normal-scheduler
  # SHA-256 NIF on 32 MiB (tens of ms of CPU on one normal scheduler, which
  # a caller must never do). The check must catch it.
  defp job(:hog, block) do
    big = :binary.copy(block, 4)
    for _ <- 1..4, do: <<_::binary-32>> = Chunker.Native.hash(big, :sha256)
    []
  end

  defp slices(block, size),
    do: for(i <- 0..(div(byte_size(block), size) - 1), do: binary_part(block, i * size, size))

  # Half random, half text-like (compressible) 4 KiB pieces, so chunking
  # and compression both do real work.
  defp block do
    text =
      :binary.copy("/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello-2.12.1/bin/hello\n", 64)

    for i <- 1..div(@big, 4096), into: <<>> do
      if rem(i, 2) == 0,
        do: :crypto.strong_rand_bytes(4096),
        else: binary_part(text, rem(i * 7, 64), 4096)
    end
  end

  defp new_acc, do: %{max: 0, over: 0, beam_max: 0, beam_over: 0, ticks: 0}

  # Sleeps 1 ms in a loop and records each tick's lateness, and that
  # lateness minus the longest time a normal scheduler thread spent
  # runnable but waiting for a CPU meanwhile (/proc schedstat): what is left
  # is time the schedulers were busy or blocked (a NIF running long or
  # waiting on something, processes). The sleeper's timer fires on one
  # scheduler and another may steal it, so subtracting the longest wait is
  # the lenient bound.
  defp sleep_loop(acc, tids) do
    before = schedstats(tids)
    t0 = System.monotonic_time(:microsecond)

    receive do
      {:stop, from} -> send(from, {:lateness, acc})
    after
      1 ->
        late = System.monotonic_time(:microsecond) - t0 - 1000

        beam_late =
          if late > 1000 do
            deltas =
              Enum.zip_with(schedstats(tids), before, fn {r1, w1}, {r0, w0} ->
                {r1 - r0, w1 - w0}
              end)

            ran = deltas |> Enum.map(&elem(&1, 0)) |> Enum.max(fn -> late end)
            waited = deltas |> Enum.map(&elem(&1, 1)) |> Enum.max(fn -> 0 end)
            late |> Kernel.-(waited) |> min(ran) |> max(0)
          else
            late
          end

        sleep_loop(
          %{
            max: max(acc.max, late),
            over: acc.over + if(late > 10_000, do: 1, else: 0),
            beam_max: max(acc.beam_max, beam_late),
            beam_over: acc.beam_over + if(beam_late > 10_000, do: 1, else: 0),
            ticks: acc.ticks + 1
          },
          tids
        )
    end
  end

  defp os_waits(tids), do: Enum.map(schedstats(tids), &elem(&1, 1))

  # OS thread ids of the normal schedulers (threads named "N_scheduler").
  defp scheduler_tids do
    for tid <- File.ls!("/proc/self/task"), comm(tid) =~ ~r/^\d+_scheduler$/, do: tid
  end

  defp comm(tid) do
    case File.read("/proc/self/task/#{tid}/comm") do
      {:ok, name} -> String.trim(name)
      _ -> ""
    end
  end

  # {µs on a CPU, µs runnable but waiting for a CPU} of each thread.
  defp schedstats(tids) do
    for tid <- tids do
      case File.read("/proc/self/task/#{tid}/schedstat") do
        {:ok, line} ->
          [run, wait | _] = String.split(line)
          {div(String.to_integer(run), 1000), div(String.to_integer(wait), 1000)}

        _ ->
          {0, 0}
      end
    end
  end

  # {busy ticks of the whole machine, ticks of this OS process, all ticks}.
  defp cpu_ticks do
    [_cpu | fields] = "/proc/stat" |> File.read!() |> String.split("\n") |> hd() |> String.split()

    [user, nice, system, idle, iowait, irq, softirq, steal | _] =
      Enum.map(fields, &String.to_integer/1)

    [_, after_comm] = "/proc/self/stat" |> File.read!() |> String.split(") ", parts: 2)

    [utime, stime] =
      after_comm |> String.split() |> Enum.slice(11, 2) |> Enum.map(&String.to_integer/1)

    busy = user + nice + system + irq + softirq + steal
    {busy, utime + stime, busy + idle + iowait}
  end

  # Share of all CPU time between the two samples used by other processes.
  defp others_share({busy0, ours0, all0}, {busy1, ours1, all1}) do
    others = busy1 - busy0 - (ours1 - ours0)
    Float.round(max(others, 0) / max(all1 - all0, 1), 3)
  end

  defp collect(events) do
    receive do
      {:monitor, pid, :long_schedule, info} -> collect([{pid, info} | events])
      {:stop, from} -> send(from, {:events, Enum.reverse(events)})
    end
  end

  defp ours?({_pid, info}) when is_list(info) do
    Enum.any?([info[:in], info[:out]], fn
      {mod, _, _} -> String.starts_with?(Atom.to_string(mod), "Elixir.Chunker")
      _ -> false
    end)
  end

  defp ours?(_), do: false
end
