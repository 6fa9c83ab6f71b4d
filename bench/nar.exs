# NAR through the NIF: dump a tree, read (eager, streaming, file), unpack,
# plain vs NAR-aware chunking, reference normalisation.
#
#     mix run bench/nar.exs                    # the OTP installation's lib/ tree
#     NAR_BENCH_TREE=/usr/lib mix run bench/nar.exs
#
# The reference for each chunking mode is plain `Chunker.chunk/2` on the same
# NAR bytes; for reading it is `File.read!/1` of the NAR file.
Code.require_file("support/harness.exs", __DIR__)

alias Chunker.NAR

tree = System.get_env("NAR_BENCH_TREE", Path.join(:code.root_dir(), "lib"))
tmp = Path.join(System.tmp_dir!(), "nar-bench-#{System.unique_integer([:positive])}")
File.mkdir_p!(tmp)
nar_path = Path.join(tmp, "tree.nar")
{:ok, size} = NAR.dump_to_file(tree, nar_path)
nar = File.read!(nar_path)
entries = NAR.entries!(nar)
IO.puts("#{tree}: #{Float.round(size / 1_048_576, 1)} MiB NAR, #{length(entries)} entries")

pieces = for o <- 0..(size - 1)//1_048_576, do: binary_part(nar, o, min(1_048_576, size - o))

Bench.Harness.run(
  %{
    "File.read! (reference)" => fn -> File.read!(nar_path) end,
    "dump (tree -> binary)" => fn -> NAR.dump!(tree) end,
    "entries (binary)" => fn -> NAR.entries!(nar) end,
    "stream_entries (1 MiB feeds)" => fn -> pieces |> NAR.stream_entries() |> Stream.run() end,
    "read_file" => fn -> NAR.read_file!(nar_path) end
  },
  bytes: size,
  time: 2,
  title: "writing and reading"
)

hashes =
  entries
  |> Enum.take(8)
  |> Enum.map(fn _ -> for _ <- 1..32, into: "", do: <<Enum.random(~c"0123456789abcdfg")>> end)

for {label, sizes} <- [
      {"128K/512K/2M", [min_size: 131_072, avg_size: 524_288, max_size: 2_097_152]},
      {"16K/64K/256K", [min_size: 16_384, avg_size: 65_536, max_size: 262_144]}
    ] do
  Bench.Harness.run(
    %{
      "Chunker.chunk (reference)" => fn -> Chunker.chunk!(nar, sizes) end,
      "NAR.chunk plain" => fn -> NAR.chunk!(nar, sizes) end,
      "NAR.chunk nar_aware" => fn -> NAR.chunk!(nar, [nar_aware: true] ++ sizes) end,
      "NAR.chunk nar_aware + 8 references" => fn ->
        NAR.chunk!(nar, [nar_aware: true, references: hashes] ++ sizes)
      end
    },
    bytes: size,
    time: 2,
    title: "chunking #{label} (SHA-256 per chunk)"
  )
end

unpack_dir = Path.join(tmp, "unpack")

Bench.Harness.run(
  %{
    "unpack_file" => fn ->
      File.rm_rf!(unpack_dir)
      NAR.unpack_file!(nar_path, unpack_dir)
    end
  },
  bytes: size,
  time: 2,
  title: "unpacking"
)

File.rm_rf!(tmp)
