defmodule Chunker.Reliability.HostileTest do
  # Hostile input through every public function, in a child VM: a NIF that
  # crashes or hangs the VM fails this test instead of killing the suite.
  use ExUnit.Case, async: true

  alias Chunker.Reliability.{Hostile, Peer}

  @moduletag timeout: 300_000

  test "every public function survives hostile arguments in a peer VM" do
    peer = Peer.start!()
    on_exit(fn -> Peer.stop(peer) end)
    {pid, _dir} = peer
    seed = :rand.uniform(1_000_000_000)
    rounds = String.to_integer(System.get_env("CHUNKER_HOSTILE_ROUNDS", "40"))

    report = Peer.call(pid, Hostile, :run, [seed, rounds], 240_000)

    # The peer is still up and its NIF still works after all of it.
    assert {:ok, [_]} = Peer.call(pid, Chunker, :chunk, ["still alive"])
    assert Enum.member?(report.functions, "Chunker.feed/2")

    IO.puts(
      "\nhostile: #{report.calls} calls (#{report.targeted} targeted, #{report.generic} generic " <>
        "over #{length(report.functions)} functions), seed #{seed}, " <>
        "#{length(report.violations)} violations"
    )

    assert report.violations == [],
           "#{length(report.violations)} of #{report.calls} hostile calls misbehaved " <>
             "(seed #{seed}):\n" <>
             Enum.map_join(report.violations, "\n", &inspect(&1, limit: 12, printable_limit: 120))
  end

  test "a VM crash in the peer fails the call with a clear message; this VM lives on" do
    peer = Peer.start!()
    on_exit(fn -> Peer.stop(peer) end)
    {pid, _dir} = peer

    assert_raise RuntimeError, ~r/peer VM failed during :erlang.halt/, fn ->
      Peer.call(pid, :erlang, :halt, [1], 10_000)
    end
  end
end
