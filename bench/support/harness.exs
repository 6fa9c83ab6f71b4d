defmodule Bench.Harness do
  @moduledoc """
  A small Benchee-style harness (Benchee is not available here): runs each
  job for a time budget, then prints name, ips, average, deviation, median and
  the comparison to the fastest, plus MB/s when `:bytes` is given.

      Bench.Harness.run(%{"eager" => fn -> ... end}, bytes: byte_size(data), time: 3)
  """

  @doc "Runs the jobs (a map or keyword list of name => 0-arity fun) and prints a table."
  def run(jobs, opts \\ []) do
    time = Keyword.get(opts, :time, 3)
    warmup = Keyword.get(opts, :warmup, 1)
    bytes = Keyword.get(opts, :bytes)
    title = Keyword.get(opts, :title)

    results =
      for {name, fun} <- jobs do
        measure(fun, warmup)
        {name, measure(fun, time)}
      end

    if title, do: IO.puts("\n## #{title}")
    print(results, bytes)
    Map.new(results, fn {name, samples} -> {name, stats(samples)} end)
  end

  defp measure(fun, seconds) do
    deadline = System.monotonic_time(:microsecond) + round(seconds * 1_000_000)
    loop(fun, deadline, [], 0)
  end

  defp loop(fun, deadline, acc, n) do
    t0 = System.monotonic_time(:microsecond)
    fun.()
    t1 = System.monotonic_time(:microsecond)
    acc = [max(t1 - t0, 1) | acc]
    if t1 < deadline or n < 2, do: loop(fun, deadline, acc, n + 1), else: acc
  end

  @doc "Average, deviation (%), median (µs) and ips of a list of µs samples."
  def stats(samples) do
    n = length(samples)
    avg = Enum.sum(samples) / n
    var = Enum.reduce(samples, 0.0, fn s, a -> a + (s - avg) * (s - avg) end) / n
    median = samples |> Enum.sort() |> Enum.at(div(n, 2))

    %{
      average: avg,
      deviation: :math.sqrt(var) / avg * 100,
      median: median,
      ips: 1_000_000 / avg,
      n: n
    }
  end

  defp print(results, bytes) do
    rows =
      Enum.map(results, fn {name, samples} -> {to_string(name), stats(samples)} end)
      |> Enum.sort_by(fn {_, s} -> s.median end)

    {_, best} = hd(rows)
    width = rows |> Enum.map(fn {n, _} -> String.length(n) end) |> Enum.max() |> max(4)

    IO.puts(
      String.pad_trailing("Name", width) <>
        "   " <>
        Enum.map_join(
          ["ips", "average", "deviation", "median", "MB/s"],
          "",
          &String.pad_leading(&1, 13)
        )
    )

    for {name, s} <- rows do
      mbs = if bytes, do: :erlang.float_to_binary(bytes / s.median, decimals: 1), else: "-"

      IO.puts(
        String.pad_trailing(name, width) <>
          "   " <>
          Enum.map_join(
            [
              :erlang.float_to_binary(s.ips, decimals: 2),
              fmt_time(s.average),
              "±" <> :erlang.float_to_binary(s.deviation, decimals: 2) <> "%",
              fmt_time(s.median),
              mbs
            ],
            "",
            &String.pad_leading(&1, 13)
          )
      )
    end

    IO.puts("\nComparison:")

    for {name, s} <- rows do
      ratio = s.median / best.median

      suffix =
        if ratio == 1.0, do: "", else: " - #{:erlang.float_to_binary(ratio, decimals: 2)}x slower"

      IO.puts(
        "#{String.pad_trailing(name, width)}   #{:erlang.float_to_binary(s.ips, decimals: 2)}#{suffix}"
      )
    end
  end

  defp fmt_time(us) when us >= 1_000_000,
    do: :erlang.float_to_binary(us / 1_000_000, decimals: 2) <> " s"

  defp fmt_time(us) when us >= 1_000,
    do: :erlang.float_to_binary(us / 1_000, decimals: 2) <> " ms"

  defp fmt_time(us), do: :erlang.float_to_binary(us / 1, decimals: 2) <> " μs"

  @doc "Deterministic benchmark data: real files from the OTP installation, repeated to `bytes`."
  def real_data(bytes) do
    files =
      Path.wildcard(Path.join(:code.root_dir(), "**"))
      |> Enum.sort()
      |> Enum.filter(&File.regular?/1)

    data =
      Enum.reduce_while(files, [], fn f, acc ->
        size = IO.iodata_length(acc)
        if size >= bytes, do: {:halt, acc}, else: {:cont, [acc, File.read!(f)]}
      end)
      |> IO.iodata_to_binary()

    data |> :binary.copy(div(bytes, max(byte_size(data), 1)) + 1) |> binary_part(0, bytes)
  end
end
