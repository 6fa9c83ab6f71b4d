# Hashing and Nix encodings through the NIF.
#   CHUNKER_CARGO_PROFILE=release mix run bench/hash.exs
# With the bench binary built (cargo build --release -p chunker_bench), it
# also prints SHA-256 on 1 MiB through the NIF as a ratio to the core.
# "one dirty call" is what `hash/2` did before medium inputs were hashed in
# normal-scheduler slices: the difference is the dirty-scheduler hand-off.
Code.require_file("support/harness.exs", __DIR__)

alias Chunker.Hash

mib = Bench.Harness.real_data(1_048_576)
big = :crypto.strong_rand_bytes(64 * 1_048_576)
small = binary_part(mib, 0, 65_536)
medium = binary_part(mib, 0, 262_144)

Bench.Harness.run(
  %{
    "Chunker.Hash sha256 1 MiB" => fn -> Hash.hash(mib, :sha256) end,
    "sha256 1 MiB, one dirty call" => fn -> Chunker.Native.hash_dirty(mib, :sha256) end,
    ":crypto sha256 1 MiB" => fn -> :crypto.hash(:sha256, mib) end,
    "Chunker.Hash blake3 1 MiB" => fn -> Hash.hash(mib, :blake3) end
  },
  bytes: byte_size(mib),
  title: "one-shot, 1 MiB",
  time: 2
)

# NIF vs core for SHA-256 on 1 MiB, alternating with the core bench binary
# (when built) so both see the same machine; median of 5 rounds.
core_bin = Path.expand("../native/target/release/chunker-bench", __DIR__)

if File.exists?(core_bin) do
  ratios =
    for _ <- 1..5 do
      {json, 0} = System.cmd(core_bin, ~w(--json --only hash --mib 4 --runs 5))
      [_, core] = Regex.run(~r/"sha256\/1MiB"[^}]*"mb_per_s":([0-9.]+)/, json)

      nif_us =
        for(_ <- 1..200, do: elem(:timer.tc(fn -> Hash.hash(mib, :sha256) end), 0))
        |> Enum.sort()
        |> Enum.at(100)

      byte_size(mib) / nif_us / String.to_float(core)
    end

  median = ratios |> Enum.sort() |> Enum.at(2)
  IO.puts("\n## Chunker.Hash sha256 1 MiB vs the core (chunker-bench sha256/1MiB)")

  IO.puts(
    "rounds #{inspect(Enum.map(ratios, &Float.round(&1, 3)))}, median #{Float.round(median, 3)}x"
  )
end

Bench.Harness.run(
  %{
    "Chunker.Hash sha256 64 KiB (normal scheduler)" => fn -> Hash.hash(small, :sha256) end,
    ":crypto sha256 64 KiB" => fn -> :crypto.hash(:sha256, small) end
  },
  bytes: byte_size(small),
  title: "one-shot, 64 KiB",
  time: 2
)

Bench.Harness.run(
  %{
    "blake3 64 MiB (multi-thread)" => fn -> Hash.hash(big, :blake3) end,
    "blake3 64 MiB streamed 64 KiB pieces (1 thread)" => fn ->
      for <<piece::binary-size(65_536) <- big>>, reduce: Hash.open(:blake3) do
        h -> Hash.update(h, piece)
      end
      |> Hash.finish!()
    end,
    "sha256 64 MiB" => fn -> Hash.hash(big, :sha256) end
  },
  bytes: byte_size(big),
  title: "64 MiB",
  time: 3
)

Bench.Harness.run(
  %{
    "Chunker.Hash blake3 256 KiB (sliced)" => fn -> Hash.hash(medium, :blake3) end,
    "blake3 256 KiB, one dirty call" => fn -> Chunker.Native.hash_dirty(medium, :blake3) end
  },
  bytes: byte_size(medium),
  title: "one-shot, 256 KiB",
  time: 2
)

items = for _ <- 1..256, do: :crypto.strong_rand_bytes(65_536)

Bench.Harness.run(
  %{
    "hash_batch 256 x 64 KiB" => fn -> Hash.hash_batch(items, :sha256) end,
    "Enum.map hash 256 x 64 KiB" => fn -> Enum.map(items, &Hash.hash(&1, :sha256)) end
  },
  bytes: 256 * 65_536,
  title: "batch",
  time: 2
)

digest = :crypto.hash(:sha256, "x")
s32 = Chunker.Nix.format_hash({:sha256, digest})
n = 10_000

Bench.Harness.run(
  %{
    "base32_encode 32 B x10k" => fn ->
      for _ <- 1..n, do: Chunker.Nix.base32_encode(digest)
    end,
    "parse_hash sha256:base32 x10k" => fn ->
      for _ <- 1..n, do: Chunker.Nix.parse_hash(s32)
    end
  },
  title: "Nix encodings (per call = median / 10k)",
  time: 2
)
