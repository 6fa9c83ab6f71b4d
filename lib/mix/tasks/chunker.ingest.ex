defmodule Mix.Tasks.Chunker.Ingest do
  @shortdoc "Chunks files and directories and reports sizes, speed and dedup"
  @moduledoc """
  Chunks each PATH (every regular file under a directory) with FastCDC 2020
  and prints, per input, bytes, chunk count, mean chunk size and MB/s; then,
  over all inputs, the unique bytes (chunks deduplicated by hash) and the
  dedup ratio.

      mix chunker.ingest [PATH...] [--min-size N] [--avg-size N] [--max-size N]
                         [--normalization N] [--hash sha256|blake3]

  With no PATH it runs on the OTP installation (`:code.root_dir()`), which
  every machine running this has. Progress goes to stderr about once a second.
  """
  use Mix.Task

  @switches [
    min_size: :integer,
    avg_size: :integer,
    max_size: :integer,
    normalization: :integer,
    hash: :string
  ]

  @impl true
  def run(args) do
    Mix.Task.run("app.start")
    {opts, paths, invalid} = OptionParser.parse(args, strict: @switches)
    if invalid != [], do: Mix.raise("unknown or invalid options: #{inspect(invalid)}")
    chunk_opts = chunk_options(opts)
    paths = if paths == [], do: [List.to_string(:code.root_dir())], else: paths

    {results, seen} =
      Enum.map_reduce(paths, %{}, fn path, seen ->
        {stats, seen} = ingest(path, chunk_opts, seen)
        print_input(path, stats)
        {stats, seen}
      end)

    print_total(results, seen)
  end

  defp chunk_options(opts) do
    hash =
      case opts[:hash] do
        nil -> :sha256
        "sha256" -> :sha256
        "blake3" -> :blake3
        other -> Mix.raise("--hash must be sha256 or blake3, got: #{other}")
      end

    opts |> Keyword.delete(:hash) |> Keyword.put(:hash, hash)
  end

  @doc false
  # Chunks every regular file under `path`; `seen` maps chunk hash => length.
  def ingest(path, chunk_opts, seen) do
    files = files(path)
    started = System.monotonic_time()
    progress = %{files: 0, bytes: 0, last: started}

    {stats, seen, _} =
      Enum.reduce(files, {%{bytes: 0, chunks: 0, files: 0}, seen, progress}, fn file,
                                                                                {stats, seen,
                                                                                 progress} ->
        case Chunker.chunk_file(file, chunk_opts) do
          {:ok, chunks} ->
            bytes = Enum.reduce(chunks, 0, &(&1.length + &2))
            seen = Enum.reduce(chunks, seen, &Map.put_new(&2, &1.hash, &1.length))

            stats = %{
              stats
              | bytes: stats.bytes + bytes,
                chunks: stats.chunks + length(chunks),
                files: stats.files + 1
            }

            {stats, seen, report_progress(progress, path, bytes)}

          {:error, {:file, reason}} ->
            Mix.shell().error("skipping #{file}: #{:file.format_error(reason)}")
            {stats, seen, progress}

          {:error, reason} ->
            Mix.raise("chunking #{file} failed: #{inspect(reason)}")
        end
      end)

    seconds =
      System.convert_time_unit(System.monotonic_time() - started, :native, :microsecond) /
        1_000_000

    {Map.put(stats, :seconds, seconds), seen}
  end

  defp files(path) do
    cond do
      File.regular?(path) -> [path]
      File.dir?(path) -> walk(path)
      true -> Mix.raise("no such file or directory: #{path}")
    end
  end

  # Regular files only; symlinks are not followed (no loops, no double counting).
  defp walk(dir) do
    case File.ls(dir) do
      {:ok, names} ->
        names
        |> Enum.sort()
        |> Enum.flat_map(fn name ->
          full = Path.join(dir, name)

          case File.lstat(full) do
            {:ok, %{type: :regular}} -> [full]
            {:ok, %{type: :directory}} -> walk(full)
            _ -> []
          end
        end)

      {:error, _} ->
        []
    end
  end

  defp report_progress(progress, path, bytes) do
    progress = %{progress | files: progress.files + 1, bytes: progress.bytes + bytes}
    now = System.monotonic_time()

    if System.convert_time_unit(now - progress.last, :native, :millisecond) >= 1000 do
      IO.write(:stderr, "  ... #{path}: #{progress.files} files, #{mb(progress.bytes)} MB\n")
      %{progress | last: now}
    else
      progress
    end
  end

  defp print_input(path, %{bytes: bytes, chunks: chunks, files: files, seconds: seconds}) do
    mean = if chunks > 0, do: div(bytes, chunks), else: 0
    speed = if seconds > 0, do: bytes / 1_000_000 / seconds, else: 0.0

    Mix.shell().info(
      "#{path}: #{bytes} bytes in #{files} files, #{chunks} chunks, " <>
        "mean chunk #{mean} bytes, #{Float.round(speed, 1)} MB/s"
    )
  end

  defp print_total(results, seen) do
    total = Enum.reduce(results, 0, &(&1.bytes + &2))
    unique = seen |> Map.values() |> Enum.sum()
    ratio = if unique > 0, do: Float.round(total / unique, 3), else: 1.0

    Mix.shell().info(
      "total: #{total} bytes, #{map_size(seen)} unique chunks, unique bytes #{unique}, dedup ratio #{ratio}"
    )
  end

  defp mb(bytes), do: Float.round(bytes / 1_000_000, 1)
end
