defmodule Chunker.Reliability.SchedulerTest do
  # Scheduler health in a child VM (system_monitor is VM-wide): our NIFs
  # never hold a normal scheduler for 2 ms or more, and a process sleeping
  # 1 ms in a loop on a normal scheduler is never more than 10 ms late.
  use ExUnit.Case, async: false

  alias Chunker.Reliability.{Peer, Scheduler}

  @moduletag timeout: 600_000
  @mib 1024 * 1024

  defp check(total) do
    peer = Peer.start!()
    on_exit(fn -> Peer.stop(peer) end)
    {pid, _dir} = peer
    r = Peer.call(pid, Scheduler, :run, [total], 540_000)

    IO.puts(
      "\nscheduler: #{div(r.bytes, @mib)} MiB in #{r.ms} ms; sleeper #{r.ticks} ticks, " <>
        "max lateness #{Float.round(r.late_max_us / 1000, 2)} ms, #{r.late_over_10ms} over 10 ms; " <>
        "long_schedule events: #{r.long_schedules} (ours: #{length(r.ours)}); " <>
        "normal-scheduler NIF calls: #{r.nif_normal_us.calls}, median #{r.nif_normal_us.median} µs, " <>
        "p99 #{r.nif_normal_us.p99} µs, max #{r.nif_normal_us.max} µs"
    )

    load = File.read!("/proc/loadavg") |> String.split() |> hd()

    IO.puts(
      "scheduler: sleeper alone (control): max lateness " <>
        "#{Float.round(r.control.max / 1000, 2)} ms over #{r.control.ticks} ticks; load #{load}"
    )

    # Median cost of a normal-scheduler NIF call at its largest input: far
    # under 1 ms whatever the machine's noise.
    assert r.nif_normal_us.median < 500

    # Timing at 1-10 ms resolution only means something on a machine of our
    # own: on a shared one other jobs take the cores at any moment (a quiet
    # control phase does not make the workload phase quiet). So these two
    # are asserted with CHUNKER_STRICT_TIMING=1 (a dedicated CI box) and
    # reported otherwise.
    if System.get_env("CHUNKER_STRICT_TIMING") == "1" do
      assert r.ours == [], "our NIFs held a normal scheduler >= 2 ms: #{inspect(r.ours)}"
      assert r.late_over_10ms == 0, "the 1 ms sleeper woke > 10 ms late (max #{r.late_max_us} µs)"
    else
      IO.puts(
        "scheduler: long_schedule and lateness bounds reported, not asserted " <>
          "(CHUNKER_STRICT_TIMING=1 asserts them)"
      )
    end
  end

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

  test "256 MiB chunked and hashed: no long schedule from our NIFs, sleeper never 10 ms late" do
    check(256 * @mib)
  end

  @tag :slow
  test "2 GiB chunked and hashed: no long schedule from our NIFs, sleeper never 10 ms late" do
    check(2048 * @mib)
  end
end
