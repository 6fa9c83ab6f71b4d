# Compression through the NIF vs the Rust core vs the C CLIs' own
# benchmarks, on the same 64 MiB of real data (the OTP installation) in one run.
#   CHUNKER_CARGO_PROFILE=release mix run bench/compress.exs
# The core is timed inside the NIF (Chunker.Native.compress_core_seconds),
# interleaved with the NIF calls, so load changes hit both alike.
# COMPRESS_BENCH_MIB=16 for a quicker run.
Code.require_file("support/harness.exs", __DIR__)

alias Chunker.Compress

mib = String.to_integer(System.get_env("COMPRESS_BENCH_MIB", "64"))
data = Bench.Harness.real_data(mib * 1_048_576)
dir = Path.join(System.tmp_dir!(), "chunker-compress-bench-#{System.os_time()}")
File.mkdir_p!(dir)
file = Path.join(dir, "real")
File.write!(file, data)
runs = 5

mbs = fn seconds -> byte_size(data) / 1.0e6 / seconds end

cli = fn cmd, level ->
  {out, _} = System.cmd(cmd, ["-b#{level}", "-i2", file], stderr_to_stdout: true)

  out
  |> String.split(["\n", "\r"])
  |> Enum.reverse()
  |> Enum.find_value(fn line ->
    case Regex.scan(~r/([0-9.]+) MB\/s/, line) do
      [[_, c], [_, _d] | _] -> String.to_float(c)
      _ -> nil
    end
  end)
end

IO.puts(
  "\n## #{mib} MiB of real data, compression MB/s (fastest of #{runs}, NIF and core interleaved)"
)

IO.puts(
  String.pad_trailing("case", 10) <>
    "        NIF       core        CLI   NIF/core    NIF/CLI  core/CLI"
)

for {algo, cmd, level} <- [{:zstd, "zstd", 1}, {:zstd, "zstd", 3}, {:lz4, "lz4", 1}] do
  Compress.compress!(data, algo, level: level)

  {nif_s, core_s} =
    Enum.reduce(1..runs, {:infinity, :infinity}, fn _, {n, c} ->
      {t, _} = :timer.tc(fn -> Compress.compress!(data, algo, level: level) end)
      core = Chunker.Native.compress_core_seconds(data, algo, level, 1)
      {min(n, t / 1_000_000), min(c, core)}
    end)

  {nif, core_mbs} = {mbs.(nif_s), mbs.(core_s)}
  cli_mbs = cli.(cmd, level)

  fmt = fn
    nil -> "-"
    x -> :erlang.float_to_binary(x / 1, decimals: 2)
  end

  ratio = fn
    _, nil -> nil
    a, b -> a / b
  end

  IO.puts(
    Enum.map_join(
      [
        "#{algo}-#{level}",
        fmt.(nif),
        fmt.(core_mbs),
        fmt.(cli_mbs),
        fmt.(ratio.(nif, core_mbs)),
        fmt.(ratio.(nif, cli_mbs)),
        fmt.(ratio.(core_mbs, cli_mbs))
      ],
      "",
      &String.pad_leading(&1, 11)
    )
  )
end

File.rm_rf!(dir)

chunks = for <<c::binary-size(16_384) <- binary_part(data, 0, 16 * 1_048_576)>>, do: c

Bench.Harness.run(
  %{
    "zstd-3 16 KiB chunks, one call each" => fn ->
      Enum.each(chunks, &Compress.compress!(&1, :zstd))
    end,
    "zstd-3 16 KiB chunks, compress_batch" => fn -> Compress.compress_batch(chunks, :zstd) end,
    "lz4 16 KiB chunks, one call each" => fn ->
      Enum.each(chunks, &Compress.compress!(&1, :lz4))
    end,
    "auto(zstd-3) 16 KiB chunks" => fn -> Enum.each(chunks, &Compress.compress!(&1, :auto)) end
  },
  bytes: 16 * 1_048_576,
  title: "16 MiB as 16 KiB chunks",
  time: 3
)

{samples, tests} = chunks |> Enum.take(2000) |> Enum.split(1000)
{:ok, raw} = Compress.train_dictionary(samples)
{:ok, dict} = Compress.load_dictionary(raw)
plain = tests |> Enum.map(&byte_size(Compress.compress!(&1, :zstd))) |> Enum.sum()

with_dict =
  tests |> Enum.map(&byte_size(Compress.compress!(&1, :zstd, dictionary: dict))) |> Enum.sum()

IO.puts(
  "\n## zstd-3 dictionary (#{byte_size(raw)} B, trained on 1000 chunks) on 1000 other 16 KiB chunks: " <>
    "#{plain} -> #{with_dict} bytes (gain #{Float.round(100 * (1 - with_dict / plain), 1)}%)"
)

noise = :crypto.strong_rand_bytes(4 * 1_048_576)
text = binary_part(data, 0, 4 * 1_048_576)

Bench.Harness.run(
  %{
    "auto on random 4 MiB (skipped after estimate)" => fn -> Compress.compress!(noise, :auto) end,
    "zstd-3 on random 4 MiB" => fn -> Compress.compress!(noise, :zstd) end,
    "auto on real 4 MiB" => fn -> Compress.compress!(text, :auto) end
  },
  bytes: 4 * 1_048_576,
  title: ":auto strategy",
  time: 2
)
