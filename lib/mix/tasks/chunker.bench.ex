defmodule Mix.Tasks.Chunker.Bench do
  @shortdoc "Runs the Elixir benchmarks in bench/ and prints a summary table"
  @moduledoc """
  Runs `bench/*.exs` (or only the named ones) one after another in this VM;
  each prints its own table (MB/s, ratios). A summary table of the benches
  run, their wall time and status follows.

      mix chunker.bench                 # every bench/*.exs
      mix chunker.bench pipeline hash   # bench/pipeline.exs and bench/hash.exs
      mix chunker.bench --list

  Environment variables of the benches apply (e.g. `PIPELINE_BENCH_MIB=64`).
  """
  use Mix.Task

  @impl true
  def run(args) do
    {opts, names, invalid} = OptionParser.parse(args, strict: [list: :boolean])
    if invalid != [], do: Mix.raise("unknown or invalid options: #{inspect(invalid)}")
    available = benches()

    if opts[:list] do
      Enum.each(available, &Mix.shell().info(Path.basename(&1, ".exs")))
    else
      Mix.Task.run("app.start")
      files = select(available, names)
      results = Enum.map(files, &run_one/1)
      print_summary(results)
    end
  end

  @doc false
  def benches, do: Path.wildcard("bench/*.exs") |> Enum.sort()

  defp select(available, []), do: available

  defp select(available, names) do
    Enum.map(names, fn name ->
      path = Path.join("bench", Path.basename(name, ".exs") <> ".exs")

      if path in available,
        do: path,
        else:
          Mix.raise(
            "no bench #{inspect(name)}; available: " <>
              Enum.map_join(available, ", ", &Path.basename(&1, ".exs"))
          )
    end)
  end

  defp run_one(file) do
    Mix.shell().info("\n==> #{file}")
    t0 = System.monotonic_time(:millisecond)

    status =
      try do
        Code.eval_file(file)
        :ok
      rescue
        e -> {:error, Exception.message(e)}
      end

    {file, (System.monotonic_time(:millisecond) - t0) / 1000, status}
  end

  defp print_summary(results) do
    Mix.shell().info("\n| bench | seconds | status |\n| --- | --- | --- |")

    for {file, seconds, status} <- results do
      shown =
        case status do
          :ok -> "ok"
          {:error, message} -> "failed: " <> String.slice(message, 0, 120)
        end

      Mix.shell().info(
        "| #{Path.basename(file, ".exs")} | #{:erlang.float_to_binary(seconds, decimals: 1)} | #{shown} |"
      )
    end

    if Enum.any?(results, &match?({_, _, {:error, _}}, &1)),
      do: Mix.raise("some benchmarks failed")
  end
end
