defmodule Chunker.NARMemoryTest do
  # Not async: peak RSS is per OS process, so nothing else may run meanwhile
  # (ExUnit runs synchronous modules after all asynchronous ones).
  use ExUnit.Case, async: false

  alias Chunker.NAR

  @moduletag :tmp_dir

  @tag timeout: 180_000
  test "streaming read of a 1 GiB NAR grows peak RSS by less than 64 MiB", %{tmp_dir: tmp} do
    path = Path.join(tmp, "big.nar")
    block = :crypto.strong_rand_bytes(8 * 1024 * 1024)

    tok = fn s ->
      <<byte_size(s)::little-64, s::binary, 0::size(rem(8 - rem(byte_size(s), 8), 8) * 8)>>
    end

    File.open!(path, [:write, :raw], fn f ->
      IO.binwrite(f, Enum.map(["nix-archive-1", "(", "type", "directory"], tok))

      for i <- 1..16 do
        name = "file-#{String.pad_leading(Integer.to_string(i), 2, "0")}"

        head =
          Enum.map(["entry", "(", "name", name, "node", "(", "type", "regular", "contents"], tok)

        IO.binwrite(f, [head, <<64 * 1024 * 1024::little-64>>])
        for _ <- 1..8, do: IO.binwrite(f, block)
        IO.binwrite(f, [tok.(")"), tok.(")")])
      end

      IO.binwrite(f, tok.(")"))
    end)

    :erlang.garbage_collect()
    :ok = File.write("/proc/self/clear_refs", "5")
    base = Chunker.Reliability.Peer.status_kib("self", "VmRSS")
    {micros, {:ok, entries}} = :timer.tc(fn -> NAR.read_file(path) end)

    {stream_micros, count} =
      :timer.tc(fn ->
        File.stream!(path, [], 1_048_576) |> NAR.stream_entries() |> Enum.count()
      end)

    growth_mib = (Chunker.Reliability.Peer.status_kib("self", "VmHWM") - base) / 1024

    assert length(entries) == 17 and count == 17
    assert Enum.at(entries, 16).size == 64 * 1024 * 1024
    assert growth_mib < 64, "peak RSS grew #{growth_mib} MiB"
    size = File.stat!(path).size

    IO.puts(
      "\nNAR 1 GiB: read_file #{Float.round(size / micros / 1000, 2)} GB/s, " <>
        "File.stream! |> stream_entries #{Float.round(size / stream_micros / 1000, 2)} GB/s, " <>
        "peak RSS growth #{Float.round(growth_mib, 1)} MiB"
    )
  end
end
