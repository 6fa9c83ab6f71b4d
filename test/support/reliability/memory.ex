defmodule Chunker.Reliability.Memory do
  @moduledoc false
  # Peak-RSS measurements, run inside a peer VM: each job streams `total`
  # bytes through one of our streaming APIs while the kernel's peak-RSS mark
  # (VmHWM, reset through /proc/self/clear_refs) records the high point.

  @block 1_048_576

  @doc "Runs `job` over `total` bytes; returns `%{growth_kib, ms, bytes}`."
  def measure(job, total) do
    blocks = for i <- 1..8, do: block(i)
    input = Stream.map(1..div(total, @block), &elem(List.to_tuple(blocks), rem(&1, 8)))
    :erlang.garbage_collect()
    :ok = File.write("/proc/self/clear_refs", "5")
    base = Chunker.Reliability.Peer.status_kib("self", "VmRSS")
    started = System.monotonic_time(:millisecond)
    bytes = run(job, input, total)
    ms = System.monotonic_time(:millisecond) - started

    %{
      growth_kib: Chunker.Reliability.Peer.status_kib("self", "VmHWM") - base,
      ms: ms,
      bytes: bytes
    }
  end

  @doc "BEAM memory growth (bytes) after abandoning 200 fed payload handles and a GC."
  def abandoned_handles do
    :erlang.garbage_collect()
    before = :erlang.memory(:total)

    for _ <- 1..200 do
      h = Chunker.open!(payloads: true)
      Chunker.feed!(h, :binary.copy(<<1>>, 100_000))
    end

    :erlang.garbage_collect()
    :erlang.memory(:total) - before
  end

  @doc "Chunks the file at `path`; returns `{bytes_covered, peak_rss_growth_kib}`."
  def chunk_file(path) do
    :erlang.garbage_collect()
    :ok = File.write("/proc/self/clear_refs", "5")
    base = Chunker.Reliability.Peer.status_kib("self", "VmRSS")
    {:ok, chunks} = Chunker.chunk_file(path, hash: :sha256)

    {Enum.sum(Enum.map(chunks, & &1.length)),
     Chunker.Reliability.Peer.status_kib("self", "VmHWM") - base}
  end

  # Half random, half zeros: chunks vary and compression has work to do.
  defp block(i) do
    :rand.seed(:exsss, i)
    :rand.bytes(div(@block, 2)) <> <<0::size(div(@block, 2))-unit(8)>>
  end

  defp run(:chunk_stream, input, _total) do
    input |> Chunker.stream() |> Enum.reduce(0, &(&1.length + &2))
  end

  defp run(:hash_stream, input, total) do
    byte_size(Chunker.Hash.hash_stream(input)) == 32 || raise "bad digest"
    total
  end

  defp run({:compress_roundtrip, algo}, input, total) do
    input
    |> Chunker.Compress.compress_stream(algo, level: 1)
    |> Chunker.Compress.decompress_stream(algo, max_size: total)
    |> Enum.reduce(0, &(byte_size(&1) + &2))
  end

  defp run(:nar_hash, _input, total) do
    path = Path.join(File.cwd!(), "sparse")
    File.open!(path, [:write, :raw], fn f -> :file.pwrite(f, total - 1, <<1>>) end)
    {:ok, hash} = Chunker.Nix.nar_hash(path)
    File.rm!(path)
    String.length(hash) == 52 || raise "bad nar hash"
    total
  end

  @doc """
  Decompression bombs: `{algo, plain_bytes, packed_bytes, result, µs}` for
  a stream of `plain` zero bytes decompressed under a 1 MiB limit.
  """
  def bombs(plain) do
    for algo <- [:zstd, :lz4, :xz, :bzip2] do
      packed =
        Stream.repeatedly(fn -> <<0::size(@block)-unit(8)>> end)
        |> Stream.take(div(plain, @block))
        |> Chunker.Compress.compress_stream(algo, level: 1)
        |> Enum.join()

      {us, result} =
        :timer.tc(fn -> Chunker.Compress.decompress(packed, algo, max_size: @block) end)

      {us_stream, stream_result} =
        :timer.tc(fn ->
          try do
            [packed]
            |> Chunker.Compress.decompress_stream(algo, max_size: @block)
            |> Stream.run()
          rescue
            e in Chunker.Error -> {:error, e.reason}
          end
        end)

      %{
        algo: algo,
        plain: plain,
        packed: byte_size(packed),
        result: result,
        us: us,
        stream_result: stream_result,
        stream_us: us_stream
      }
    end
  end
end
