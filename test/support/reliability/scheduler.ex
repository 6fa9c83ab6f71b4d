defmodule Chunker.Reliability.Scheduler do
  @moduledoc false
  # Scheduler health, run inside a peer VM: while `total` bytes are chunked
  # (streams with dirty feeds, big eager calls on the parallel pool, small
  # eager calls and feeds on normal schedulers) and hashed, a process on a
  # normal scheduler sleeps 1 ms in a loop and records how late it wakes,
  # and `:erlang.system_monitor/2` reports every long_schedule (>= 2 ms).

  @piece 64 * 1024
  @big 8 * 1024 * 1024
  @opts [min_size: 16_384, avg_size: 65_536, max_size: 262_144]

  @doc """
  Returns `%{bytes, ms, late_max_us, late_over_10ms, ticks, long_schedules,
  ours, nif_normal_us}`, `ours` being the long_schedule events whose `in`
  or `out` is a `Chunker.Native` function.
  """
  def run(total) do
    block = :crypto.strong_rand_bytes(@big)
    control = control(500)
    monitor = spawn(fn -> collect([]) end)
    :erlang.system_monitor(monitor, [{:long_schedule, 2}])
    sleeper = spawn(fn -> sleep_loop(%{max: 0, over: 0, ticks: 0}) end)
    started = System.monotonic_time(:millisecond)

    # Four kinds of job, a quarter of the bytes each, two jobs at a time.
    jobs =
      for kind <- [:stream, :big_eager, :small_eager, :small_feed_and_hash],
          _ <- 1..max(div(total, 4 * @big), 1),
          do: kind

    timings =
      jobs
      |> Task.async_stream(&job(&1, block), max_concurrency: 2, timeout: :infinity, ordered: false)
      |> Enum.flat_map(fn {:ok, t} -> t end)

    ms = System.monotonic_time(:millisecond) - started
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
      ticks: lateness.ticks,
      long_schedules: length(events),
      ours: Enum.filter(events, &ours?/1),
      events: Enum.take(events, 5),
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
  defp control(ms) do
    sleeper = spawn(fn -> sleep_loop(%{max: 0, over: 0, ticks: 0}) end)
    Process.sleep(ms)
    send(sleeper, {:stop, self()})
    receive(do: ({:lateness, l} -> l))
  end

  # Each job returns the wall times (µs) of its normal-scheduler NIF calls.
  defp job(:stream, block) do
    [block]
    |> Stream.flat_map(&for(i <- 0..7, do: binary_part(&1, i * 1_048_576, 1_048_576)))
    |> Chunker.stream(@opts)
    |> Stream.run()

    []
  end

  defp job(:big_eager, block) do
    {:ok, _} = Chunker.chunk(block, @opts)
    []
  end

  defp job(:small_eager, block) do
    for i <- 0..(div(@big, @piece) - 1) do
      piece = binary_part(block, i * @piece, @piece)
      {us, {:ok, _}} = :timer.tc(fn -> Chunker.chunk(piece, @opts) end)
      us
    end
  end

  defp job(:small_feed_and_hash, block) do
    h = Chunker.open!(@opts)

    times =
      for i <- 0..(div(@big, @piece) - 1) do
        piece = binary_part(block, i * @piece, @piece)
        {feed_us, {:ok, _}} = :timer.tc(fn -> Chunker.feed(h, piece) end)

        if Code.ensure_loaded?(Chunker.Hash) do
          {hash_us, _} = :timer.tc(fn -> Chunker.Hash.hash(piece) end)
          [feed_us, hash_us]
        else
          [feed_us]
        end
      end

    Chunker.finish!(h)
    List.flatten(times)
  end

  defp sleep_loop(acc) do
    t0 = System.monotonic_time(:microsecond)

    receive do
      {:stop, from} -> send(from, {:lateness, acc})
    after
      1 ->
        late = System.monotonic_time(:microsecond) - t0 - 1000

        sleep_loop(%{
          max: max(acc.max, late),
          over: acc.over + if(late > 10_000, do: 1, else: 0),
          ticks: acc.ticks + 1
        })
    end
  end

  defp collect(events) do
    receive do
      {:monitor, pid, :long_schedule, info} -> collect([{pid, info} | events])
      {:stop, from} -> send(from, {:events, Enum.reverse(events)})
    end
  end

  defp ours?({_pid, info}) when is_list(info) do
    Enum.any?([info[:in], info[:out]], &match?({Chunker.Native, _, _}, &1))
  end

  defp ours?(_), do: false
end
