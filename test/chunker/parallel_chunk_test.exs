defmodule Chunker.ParallelChunkTest do
  # Big inputs are chunked in parallel by the NIF (above the core's
  # threshold); the stream path is serial. Both must agree, chunk for chunk,
  # and the digests must be those of :crypto.
  use ExUnit.Case, async: true

  @opts [min_size: 16_384, avg_size: 65_536, max_size: 262_144]

  defp data(seed, bytes) do
    :rand.seed(:exsss, {seed, seed, seed})

    Stream.repeatedly(fn ->
      case :rand.uniform(3) do
        1 -> :binary.copy(<<0>>, :rand.uniform(400_000))
        _ -> :rand.bytes(:rand.uniform(300_000))
      end
    end)
    |> Enum.reduce_while([], fn piece, acc ->
      if IO.iodata_length(acc) >= bytes, do: {:halt, acc}, else: {:cont, [acc, piece]}
    end)
    |> IO.iodata_to_binary()
    |> binary_part(0, bytes)
  end

  defp streamed(data, opts, feed) do
    h = Chunker.open!(opts)

    chunks =
      for offset <- 0..(byte_size(data) - 1)//feed,
          c <- Chunker.feed!(h, binary_part(data, offset, min(feed, byte_size(data) - offset))),
          do: c

    chunks ++ Chunker.finish!(h)
  end

  for seed <- [1, 2] do
    test "parallel eager chunking equals the serial stream (seed #{seed})" do
      data = data(unquote(seed), 12 * 1_048_576)
      {:ok, eager} = Chunker.chunk(data, @opts)
      assert length(eager) > 20
      assert Enum.map(eager, & &1.length) |> Enum.sum() == byte_size(data)

      for c <- eager do
        assert c.hash == :crypto.hash(:sha256, binary_part(data, c.offset, c.length))
      end

      assert streamed(data, @opts, 1_000_000 + unquote(seed)) == eager

      assert {:ok, length(eager)} ==
               Chunker.Native.chunk_count_dirty(data, {16_384, 65_536, 262_144, 1})
    end
  end
end
