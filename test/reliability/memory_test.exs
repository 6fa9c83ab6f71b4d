defmodule Chunker.Reliability.MemoryTest do
  # Memory bounds in a child VM (its own RSS, peak mark reset per job):
  # streaming 1 GiB through chunking and through compression + decompression
  # (256 MiB for hashing and NAR hashing; 1 GiB of each, every format, with
  # --include slow) grows peak RSS by less than 64 MiB each; decompression
  # bombs are stopped by the limit in under 100 ms.
  use ExUnit.Case, async: false

  alias Chunker.Reliability.{Memory, Peer}

  @moduletag timeout: 600_000
  @gib 1024 * 1024 * 1024
  @limit_kib 64 * 1024

  setup_all do
    peer = Peer.start!()
    on_exit(fn -> Peer.stop(peer) end)
    {:ok, peer: elem(peer, 0)}
  end

  defp check(peer, job, total) do
    r = Peer.call(peer, Memory, :measure, [job, total], 540_000)

    IO.puts(
      "\nmemory: #{inspect(job)}: #{div(total, 1024 * 1024)} MiB in #{r.ms} ms, " <>
        "peak RSS growth #{Float.round(r.growth_kib / 1024, 1)} MiB"
    )

    assert r.bytes == total
    assert r.growth_kib < @limit_kib, "#{inspect(job)}: peak RSS grew #{r.growth_kib} KiB"
  end

  test("Chunker.stream over 1 GiB", %{peer: peer}, do: check(peer, :chunk_stream, @gib))

  test("Chunker.Hash.hash_stream over 256 MiB", %{peer: peer},
    do: check(peer, :hash_stream, div(@gib, 4))
  )

  test("Chunker.Nix.nar_hash of a 256 MiB file", %{peer: peer},
    do: check(peer, :nar_hash, div(@gib, 4))
  )

  @tag :slow
  test "hash_stream and nar_hash over 1 GiB", %{peer: peer} do
    check(peer, :hash_stream, @gib)
    check(peer, :nar_hash, @gib)
  end

  test("compress_stream |> decompress_stream (zstd) over 1 GiB", %{peer: peer},
    do: check(peer, {:compress_roundtrip, :zstd}, @gib)
  )

  test("compress_stream |> decompress_stream (lz4) over 256 MiB", %{peer: peer},
    do: check(peer, {:compress_roundtrip, :lz4}, div(@gib, 4))
  )

  @tag :slow
  test "compress_stream |> decompress_stream, every format, 1 GiB", %{peer: peer} do
    for algo <- [:lz4, :xz, :bzip2], do: check(peer, {:compress_roundtrip, algo}, @gib)
  end

  test "decompression bombs are refused at the limit in under 100 ms", %{peer: peer} do
    for b <- Peer.call(peer, Memory, :bombs, [64 * 1024 * 1024], 300_000) do
      IO.puts(
        "memory: bomb #{b.algo}: #{b.packed} B -> #{div(b.plain, 1024 * 1024)} MiB, " <>
          "limit 1 MiB: #{inspect(b.result)} in #{b.us} µs (stream: #{b.stream_us} µs)"
      )

      assert b.result == {:error, {:size_exceeded, 1_048_576}}
      assert b.stream_result == {:error, {:size_exceeded, 1_048_576}}
      assert b.us < 100_000 and b.stream_us < 100_000
    end
  end
end
