defmodule Chunker.HashTest do
  use ExUnit.Case, async: true
  doctest Chunker.Hash

  alias Chunker.Hash

  # Official BLAKE3 vectors (test_vectors.json): input byte i is i mod 251.
  @blake3_vectors [
    {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
    {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
    {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
    {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
    {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
    {8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
    {31_744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
    {102_400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"}
  ]

  defp vector_input(len), do: for(i <- 0..(len - 1)//1, into: <<>>, do: <<rem(i, 251)>>)
  defp hex(bin), do: Base.encode16(bin, case: :lower)

  test "BLAKE3 matches the official test vectors, one-shot and streamed" do
    for {len, expected} <- @blake3_vectors do
      input = vector_input(len)
      assert hex(Hash.hash(input, :blake3)) == expected, "len #{len}"
      split = div(len, 3)

      streamed =
        Hash.open(:blake3)
        |> Hash.update(binary_part(input, 0, split))
        |> Hash.update(binary_part(input, split, len - split))
        |> Hash.finish!()

      assert hex(streamed) == expected
    end
  end

  test "SHA-256 agrees with :crypto on random inputs of every size class" do
    :rand.seed(:exsss, {5, 5, 5})

    for size <- [0, 1, 63, 64, 65, 1000, 65_536, 65_537, 300_000, 2_000_000] do
      data = :rand.bytes(size)
      assert Hash.hash(data) == :crypto.hash(:sha256, data), "size #{size}"
      assert Hash.hash([data, "x"]) == :crypto.hash(:sha256, [data, "x"])
    end
  end

  test "sizes around the sliced and dirty boundaries agree with independent paths" do
    :rand.seed(:exsss, {9, 9, 9})

    for size <- [65_537, 131_072, 131_073, 524_287, 524_288, 2_097_151, 2_097_152, 2_097_153] do
      data = :rand.bytes(size)
      assert Hash.hash(data) == :crypto.hash(:sha256, data), "sha256 size #{size}"
      # One core call (hash_batch) and one dirty streaming update (hash_stream).
      [ok: batch] = Hash.hash_batch([data], :blake3)
      assert Hash.hash(data, :blake3) == batch, "blake3 size #{size}"
      assert Hash.hash_stream([data], :blake3) == batch
    end
  end

  test "big BLAKE3 inputs (multi-threaded) equal the streamed single-thread digest" do
    :rand.seed(:exsss, {6, 6, 6})
    data = :rand.bytes(3_000_001)
    pieces = for <<piece::binary-size(4096) <- binary_part(data, 0, 2_998_272)>>, do: piece
    tail = binary_part(data, 2_998_272, byte_size(data) - 2_998_272)
    streamed = Hash.hash_stream(pieces ++ [tail], :blake3)
    assert Hash.hash(data, :blake3) == streamed
    assert Hash.hash_stream([data], :blake3) == streamed
  end

  test "streaming over random splits equals one-shot for both algorithms" do
    :rand.seed(:exsss, {7, 7, 7})

    for _ <- 1..30, algo <- [:sha256, :blake3] do
      data = :rand.bytes(:rand.uniform(200_000))
      pieces = random_split(data)
      h = Enum.reduce(pieces, Hash.open(algo), &Hash.update(&2, &1))
      assert Hash.finish(h) == {:ok, Hash.hash(data, algo)}
      assert Hash.finish(h) == {:error, :finished}
      assert_raise Chunker.Error, fn -> Hash.update(h, "more") end
      assert_raise Chunker.Error, fn -> Hash.finish!(h) end
    end
  end

  test "a handle shared by concurrent processes serializes updates" do
    h = Hash.open(:sha256)
    piece = :binary.copy("z", 100_000)

    1..8
    |> Enum.map(fn _ -> Task.async(fn -> Hash.update(h, piece) end) end)
    |> Task.await_many()

    assert Hash.finish!(h) == :crypto.hash(:sha256, :binary.copy(piece, 8))
  end

  test "hash_batch gives one result per item, small and big batches" do
    :rand.seed(:exsss, {8, 8, 8})
    small = for _ <- 1..50, do: :rand.bytes(:rand.uniform(100))
    big = for _ <- 1..20, do: :rand.bytes(:rand.uniform(200_000))

    for items <- [small, big, [], [1 | big] ++ [:atom]], algo <- [:sha256, :blake3] do
      expected =
        Enum.map(items, fn
          b when is_binary(b) -> {:ok, Hash.hash(b, algo)}
          _ -> {:error, :not_a_binary}
        end)

      assert Hash.hash_batch(items, algo) == expected
    end
  end

  test "wrong argument types raise ArgumentError" do
    assert_raise ArgumentError, ~r/:sha256 or :blake3/, fn -> Hash.hash("a", :md5) end
    assert_raise ArgumentError, ~r/binary or list/, fn -> Hash.hash(:a) end
    assert_raise ArgumentError, ~r/iodata/, fn -> Hash.hash([:a]) end
    assert_raise ArgumentError, fn -> Hash.open(:sha1) end
    assert_raise ArgumentError, fn -> Hash.update(make_ref(), "a") end
    assert_raise ArgumentError, fn -> Hash.update(Hash.open(), 1) end
    assert_raise ArgumentError, fn -> Hash.finish(:nope) end
    assert_raise ArgumentError, fn -> Hash.hash_batch(:nope) end
  end

  defp random_split(<<>>), do: []

  defp random_split(data) do
    n = min(byte_size(data), :rand.uniform(100_000))
    <<piece::binary-size(n), rest::binary>> = data
    [piece | random_split(rest)]
  end
end
