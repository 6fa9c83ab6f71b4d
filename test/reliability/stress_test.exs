defmodule Chunker.Reliability.StressTest do
  # 1,000 processes at once in a child VM: eager chunking, private and shared
  # streaming handles, hashing, and processes killed mid-stream. Results are
  # checked, every round is time-bounded (no deadlock) and memory goes back
  # to its baseline after GC (no leak).
  use ExUnit.Case, async: false

  alias Chunker.Reliability.{Peer, Stress}

  @moduletag timeout: 300_000
  @mib 1024 * 1024

  test "1,000 concurrent processes: correct results, no deadlock, no leak" do
    peer = Peer.start!()
    on_exit(fn -> Peer.stop(peer) end)
    {pid, _dir} = peer
    os_pid = Peer.call(pid, :os, :getpid, []) |> List.to_integer()
    seed = :rand.uniform(1_000_000_000)

    # Warm-up (code loading, allocator carriers, the rayon pool), then baseline.
    Peer.call(pid, Stress, :round, [200, seed, 60_000])
    {base_total, base_binary} = Peer.call(pid, Stress, :settle, [])
    base_rss = Peer.status_kib(os_pid, "VmRSS")

    rounds =
      for r <- 1..3 do
        stats = Peer.call(pid, Stress, :round, [1000, seed + r, 60_000])
        {total, binary} = Peer.call(pid, Stress, :settle, [])
        Map.merge(stats, %{total: total, binary: binary, rss: Peer.status_kib(os_pid, "VmRSS")})
      end

    for r <- rounds do
      assert r.ok + r.killed == 1000
      assert r.killed == 200
    end

    last = List.last(rounds)

    IO.puts(
      "\nstress: 3 rounds x 1000 processes (#{(hd(rounds).bytes / @mib) |> Float.round(1)} MiB each), " <>
        "ms per round #{inspect(Enum.map(rounds, & &1.milliseconds), charlists: :as_lists)}, 200 killed per round; " <>
        "BEAM memory #{mib(base_total)} -> #{inspect(Enum.map(rounds, &mib(&1.total)))} MiB, " <>
        "binaries #{mib(base_binary)} -> #{mib(last.binary)} MiB, " <>
        "RSS #{div(base_rss, 1024)} -> #{inspect(Enum.map(rounds, &div(&1.rss, 1024)), charlists: :as_lists)} MiB (seed #{seed})"
    )

    assert last.total - base_total < 16 * @mib, "BEAM memory did not return to baseline"
    assert last.binary - base_binary < 4 * @mib, "binaries (resources, payloads) leaked"
    # Native allocations: no growth from one identical round to the next.
    assert List.last(rounds).rss - hd(rounds).rss < 32 * 1024, "RSS keeps growing"
  end

  defp mib(bytes), do: Float.round(bytes / @mib, 1)
end
