defmodule Chunker.Reliability.Stress do
  @moduledoc false
  # Concurrency stress, run inside a peer VM: `procs` processes at once
  # chunking (eager), streaming with private handles, feeding shared handles,
  # hashing and compressing (Chunker.Hash, Chunker.Compress when present) and
  # being killed mid-stream. Every
  # result is checked against :crypto and the eager result.

  @opts [min_size: 1024, avg_size: 4096, max_size: 16_384]

  @doc """
  One round. Returns `%{ok: n, killed: n, bytes: n, seconds: s}` or raises
  with the first wrong result. `timeout` bounds the whole round (deadlock check).
  """
  def round(procs, seed, timeout) do
    :rand.seed(:exsss, seed)
    shared = for _ <- 1..4, do: Chunker.open!(@opts ++ [hash: :sha256, payloads: true])
    parent = self()
    started = System.monotonic_time(:millisecond)

    workers =
      for i <- 1..procs do
        kind = rem(i, 5)
        data = data(:rand.uniform(96 * 1024))
        handle = Enum.at(shared, rem(i, 4))
        {pid, ref} = spawn_monitor(fn -> send(parent, {self(), work(kind, data, handle)}) end)
        {pid, ref, kind, byte_size(data)}
      end

    # Kill the kind-4 workers while they stream.
    for {pid, _, 4, _} <- workers do
      Process.sleep(:rand.uniform(3) - 1)
      Process.exit(pid, :kill)
    end

    deadline = started + timeout
    results = Enum.map(workers, &collect(&1, deadline))

    shared_chunks =
      Enum.flat_map(shared, fn h ->
        mine = for {:shared, ^h, chunks, bytes} <- results, do: {chunks, bytes}
        last = Chunker.finish!(h)
        all = Enum.flat_map(mine, &elem(&1, 0)) ++ last
        check_tiling!(all, Enum.sum(Enum.map(mine, &elem(&1, 1))))
        all
      end)

    for %{data: data, hash: hash} <- shared_chunks,
        do: hash == :crypto.hash(:sha256, data) || raise("shared handle: wrong digest")

    %{
      ok: Enum.count(results, &(&1 != :killed)),
      killed: Enum.count(results, &(&1 == :killed)),
      bytes: workers |> Enum.map(&elem(&1, 3)) |> Enum.sum(),
      milliseconds: System.monotonic_time(:millisecond) - started
    }
  end

  defp collect({pid, ref, kind, _}, deadline) do
    wait = max(deadline - System.monotonic_time(:millisecond), 0)

    receive do
      {^pid, result} ->
        Process.demonitor(ref, [:flush])
        result

      {:DOWN, ^ref, :process, ^pid, :killed} when kind == 4 ->
        :killed

      {:DOWN, ^ref, :process, ^pid, reason} ->
        # Finished normally (message first) or crashed.
        receive do
          {^pid, result} -> result
        after
          0 -> raise "worker #{kind} crashed: #{inspect(reason, limit: 8)}"
        end
    after
      wait -> raise "deadlock? worker #{kind} not done within the round's time limit"
    end
  end

  defp data(size) do
    # Half random, half repeated, so chunks vary and some repeat.
    half = div(size, 2)
    :rand.bytes(half) <> :binary.copy(<<rem(size, 251)>>, size - half)
  end

  defp work(0, data, _shared) do
    chunks = Chunker.chunk!(data, @opts ++ [payloads: true])
    check_chunks!(chunks, data)
    :eager
  end

  defp work(1, data, _shared) do
    h = Chunker.open!(@opts)
    streamed = Enum.flat_map(pieces(data), &Chunker.feed!(h, &1)) ++ Chunker.finish!(h)
    eager = Chunker.chunk!(data, @opts)
    streamed == eager || raise "private stream differs from eager"
    check_chunks!(streamed, data)
    :private
  end

  defp work(2, data, shared) do
    chunks = Enum.flat_map(pieces(data), &Chunker.feed!(shared, &1))
    {:shared, shared, chunks, byte_size(data)}
  end

  defp work(3, data, _shared) do
    if Code.ensure_loaded?(Chunker.Hash) do
      expected = :crypto.hash(:sha256, data)
      Chunker.Hash.hash(data) == expected || raise "Chunker.Hash.hash wrong"
      h = Enum.reduce(pieces(data), Chunker.Hash.open(), &Chunker.Hash.update(&2, &1))
      Chunker.Hash.finish(h) == {:ok, expected} || raise "streamed hash wrong"
    else
      check_chunks!(Chunker.chunk!(data, @opts), data)
    end

    if Code.ensure_loaded?(Chunker.Compress) do
      algo = Enum.random([:zstd, :lz4, :xz, :bzip2])
      {:ok, packed} = Chunker.Compress.compress(data, algo, level: 1)

      Chunker.Compress.decompress(packed, algo, max_size: byte_size(data)) == {:ok, data} ||
        raise "#{algo} round trip wrong"

      streamed = pieces(packed) |> Chunker.Compress.decompress_stream(algo) |> Enum.join()
      streamed == data || raise "#{algo} streamed round trip wrong"
      check_chunks!(Chunker.chunk!(data, @opts), data)
    end

    :hash
  end

  defp work(4, data, _shared) do
    # Streams until killed.
    h = Chunker.open!(@opts ++ [payloads: true])
    Stream.cycle(pieces(data)) |> Enum.each(&Chunker.feed!(h, &1))
  end

  defp pieces(data) do
    size = byte_size(data)
    cuts = Enum.sort(for _ <- 1..4, do: :rand.uniform(size + 1) - 1)

    [0 | cuts]
    |> Enum.zip(cuts ++ [size])
    |> Enum.map(fn {a, b} -> binary_part(data, a, b - a) end)
  end

  defp check_chunks!(chunks, data) do
    check_tiling!(chunks, byte_size(data))

    for c <- chunks do
      part = binary_part(data, c.offset, c.length)
      c.hash == :crypto.hash(:sha256, part) || raise "wrong digest at #{c.offset}"
      c.data in [nil, part] || raise "wrong payload at #{c.offset}"
    end
  end

  defp check_tiling!(chunks, total) do
    end_at =
      chunks
      |> Enum.sort_by(& &1.offset)
      |> Enum.reduce(0, fn c, at ->
        c.offset == at || raise "chunks do not tile: gap or overlap at #{at}"
        at + c.length
      end)

    end_at == total || raise "chunks cover #{end_at} of #{total} bytes"
  end

  @doc "Garbage-collects every process, then returns {erlang_total_bytes, binary_bytes}."
  def settle do
    for _ <- 1..3 do
      Enum.each(Process.list(), &:erlang.garbage_collect/1)
      Process.sleep(50)
    end

    {:erlang.memory(:total), :erlang.memory(:binary)}
  end
end
