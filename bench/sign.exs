# Nix keys and narinfo through the NIF: verify / sign / parse rates.
#   CHUNKER_CARGO_PROFILE=release elixir --erl "+sbwt none +sbwtdcpu none +sbwtdio none" -S mix run bench/sign.exs
# (without busy-waiting schedulers, the VM's CPU time is the work's CPU time.)
# Core figures: cargo run --release -p chunker_bench -- --only nix
Code.require_file("support/harness.exs", __DIR__)

alias Chunker.Nix.{Key, Narinfo}

text = File.read!(Path.join(__DIR__, "../test/fixtures/hello-2.10.narinfo"))

trusted = [Key.parse_public!("cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=")]
narinfo = Narinfo.parse!(text)
true = Narinfo.verify(narinfo, trusted)
secret = Key.generate!("bench-1")
{:ok, fp} = Narinfo.fingerprint(narinfo)
n = 1000

results =
  Bench.Harness.run(
    %{
      "Narinfo.verify (parsed) x1000" => fn ->
        for _ <- 1..n, do: true = Narinfo.verify(narinfo, trusted)
      end,
      "Narinfo.parse + verify x1000" => fn ->
        for _ <- 1..n, do: true = Narinfo.verify(Narinfo.parse!(text), trusted)
      end,
      "Key.sign fingerprint x1000" => fn -> for _ <- 1..n, do: Key.sign(fp, secret) end,
      "Narinfo.parse x1000" => fn -> for _ <- 1..n, do: Narinfo.parse!(text) end
    },
    title: "keys and narinfo (per call = median / 1000)",
    time: 3
  )

for {name, %{median: us}} <- Enum.sort(results) do
  IO.puts("#{name}: #{round(n / (us / 1_000_000))} per second")
end

# On a shared machine wall time includes other processes' turns: also
# report the VM's own CPU time (utime + stime from /proc/self/stat).
cpu_seconds = fn ->
  case File.read("/proc/self/stat") do
    {:ok, stat} ->
      [_, rest] = String.split(stat, ") ", parts: 2)
      fields = String.split(rest)
      (String.to_integer(Enum.at(fields, 11)) + String.to_integer(Enum.at(fields, 12))) / 100

    _ ->
      nil
  end
end

count = 20_000
t0 = cpu_seconds.()
w0 = System.monotonic_time(:microsecond)
for _ <- 1..count, do: true = Narinfo.verify(narinfo, trusted)
wall = (System.monotonic_time(:microsecond) - w0) / 1_000_000
cpu = cpu_seconds.() - t0

IO.puts(
  "Narinfo.verify x#{count}: #{round(count / wall)} per second wall, " <>
    "#{round(count / cpu)} per CPU-second (#{Float.round(cpu / count * 1_000_000, 1)} µs CPU each)"
)
