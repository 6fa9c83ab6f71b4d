# Chunking through the NIF vs the Rust core's own throughput, and streaming
# (open/feed/finish) vs eager.
#
#     mix run bench/chunk.exs            # 256 MiB of real files (the OTP tree)
#     CHUNK_BENCH_MIB=64 mix run bench/chunk.exs
#
# `core` is `Chunker.Native.chunk_count_dirty/2`: the same core call as
# `Chunker.chunk/2` with `hash: :none` (parallel above the threshold), minus
# building the result terms. Ratios are medians over medians.
Code.require_file("support/harness.exs", __DIR__)

alias Chunker.Native

mib = String.to_integer(System.get_env("CHUNK_BENCH_MIB", "256"))
bytes = mib * 1_048_576
data = Bench.Harness.real_data(bytes)

split = fn size ->
  for offset <- 0..(bytes - 1)//size, do: binary_part(data, offset, min(size, bytes - offset))
end

feeds = %{"64 KiB" => split.(65_536), "1 MiB" => split.(1_048_576)}

stream = fn pieces, opts ->
  h = Chunker.open!(opts)
  n = Enum.reduce(pieces, 0, fn piece, n -> n + length(Chunker.feed!(h, piece)) end)
  n + length(Chunker.finish!(h))
end

IO.puts("#{mib} MiB of real data, #{System.schedulers_online()} schedulers")

for {label, sizes} <- [
      {"128K/512K/2M", [min_size: 131_072, avg_size: 524_288, max_size: 2_097_152]},
      {"16K/64K/256K", [min_size: 16_384, avg_size: 65_536, max_size: 262_144]}
    ] do
  opts = [hash: :none] ++ sizes
  tuple = {sizes[:min_size], sizes[:avg_size], sizes[:max_size], 1}
  {:ok, expected} = Chunker.chunk(data, opts)
  {:ok, count} = Native.chunk_count_dirty(data, tuple)
  ^count = length(expected)
  ^count = stream.(feeds["64 KiB"], opts)

  jobs = [
    {"core (no terms)", fn -> Native.chunk_count_dirty(data, tuple) end},
    {"Chunker.chunk hash: :none", fn -> Chunker.chunk(data, opts) end},
    {"stream, 64 KiB feeds", fn -> stream.(feeds["64 KiB"], opts) end},
    {"stream, 1 MiB feeds", fn -> stream.(feeds["1 MiB"], opts) end}
  ]

  stats = Bench.Harness.run(jobs, bytes: bytes, time: 2, warmup: 0.5, title: label)
  median = fn name -> stats[name].median end
  mbs = fn name -> Float.round(bytes / median.(name), 1) end
  ratio = fn a, b -> Float.round(median.(b) / median.(a), 3) end

  IO.puts("""
  ratios (#{label}):
    Chunker.chunk / core          #{ratio.("Chunker.chunk hash: :none", "core (no terms)")}  (#{mbs.("Chunker.chunk hash: :none")} vs #{mbs.("core (no terms)")} MB/s)
    stream 64 KiB / eager chunk   #{ratio.("stream, 64 KiB feeds", "Chunker.chunk hash: :none")}
    stream 1 MiB / eager chunk    #{ratio.("stream, 1 MiB feeds", "Chunker.chunk hash: :none")}
  """)
end
