defmodule Mix.Tasks.Chunker.Ingest do
  @shortdoc "Ingests files and directories through the pipeline; reports sizes, speed, dedup and compression"
  @moduledoc """
  Runs each PATH (every regular file under a directory) through
  `Chunker.Pipeline.ingest/2` (FastCDC 2020 chunking, hashing, compression
  on the native worker pool) and prints, per input, bytes, chunk count, mean
  chunk size, MB/s and compressed size; then, over all inputs, the unique
  bytes (chunks deduplicated by hash) and the dedup ratio. Chunks already
  seen in this run are not compressed again (`:known?`).

      mix chunker.ingest [PATH...] [--min-size N] [--avg-size N] [--max-size N]
                         [--normalization N] [--hash sha256|blake3]
                         [--compress zstd|lz4|xz|bzip2|none] [--level N]
                         [--max-in-flight BYTES] [--json]

  With no PATH it runs on the OTP installation (`:code.root_dir()`), which
  every machine running this has. Progress goes to stderr: a bar with MB/s
  and ETA on a terminal, a plain line about once a second otherwise.
  `--json` prints one JSON object per input and one for the total instead of
  the text lines.

  ## NAR mode

      mix chunker.ingest PATH... --nar [--nar-aware] [--normalize-refs]

  `--nar` (implied by `--nar-aware` and `--normalize-refs`) treats each input
  as one NAR: a `.nar` file as is, any other file, directory or store path
  serialised with `Chunker.NAR.dump/1` on the fly (in memory). Each NAR is
  chunked with `Chunker.NAR.chunk/2` in every requested mode: `plain`
  always, `nar-aware` with `--nar-aware`, `nar-aware+refs` with
  `--normalize-refs` (the references are the `/nix/store/<hash>-` strings
  found in the NAR, as Nix's reference scanner finds them). Per input and
  mode it prints the bytes the input adds to what the previous inputs stored
  (new chunks, plus the patch list when normalising), then per mode the
  unique bytes and the dedup ratio over all inputs.
  """
  use Mix.Task
  alias Mix.Tasks.Chunker.Ingest.Progress

  @switches [
    min_size: :integer,
    avg_size: :integer,
    max_size: :integer,
    normalization: :integer,
    hash: :string,
    compress: :string,
    level: :integer,
    max_in_flight: :integer,
    json: :boolean,
    nar: :boolean,
    nar_aware: :boolean,
    normalize_refs: :boolean
  ]

  @compressions ~w(zstd lz4 xz bzip2 none)

  @impl true
  def run(args) do
    Mix.Task.run("app.start")
    {opts, paths, invalid} = OptionParser.parse(args, strict: @switches)
    if invalid != [], do: Mix.raise("unknown or invalid options: #{inspect(invalid)}")

    if opts[:nar] || opts[:nar_aware] || opts[:normalize_refs] do
      run_nar(opts, paths)
    else
      run_files(opts, paths)
    end
  end

  defp run_files(opts, paths) do
    ingest_opts = ingest_options(opts)
    json = Keyword.get(opts, :json, false)
    paths = if paths == [], do: [List.to_string(:code.root_dir())], else: paths

    case Chunker.Pipeline.ingest(<<>>, ingest_opts) do
      {:ok, _} -> :ok
      {:error, reason} -> Mix.raise(Exception.message(%Chunker.Error{reason: reason}))
    end

    seen = :ets.new(:chunker_ingest_seen, [:set, :public])

    try do
      results =
        Enum.map(paths, fn path ->
          stats = ingest(path, ingest_opts, seen)
          print_input(path, stats, json)
          stats
        end)

      print_total(results, seen, json)
    after
      :ets.delete(seen)
    end
  end

  defp ingest_options(opts) do
    hash = hash_option(opts[:hash])

    compress =
      case opts[:compress] || "zstd" do
        c when c in @compressions ->
          String.to_atom(c)

        other ->
          Mix.raise("--compress must be one of #{Enum.join(@compressions, ", ")}, got: #{other}")
      end

    opts
    |> Keyword.drop([:hash, :compress, :json, :max_in_flight])
    |> Keyword.merge(hash: hash, compress: compress)
    |> then(fn o ->
      if opts[:max_in_flight],
        do: Keyword.put(o, :max_in_flight_bytes, opts[:max_in_flight]),
        else: o
    end)
  end

  @doc false
  # Ingests every regular file under `path`; `seen` (ETS) maps chunk hash => length.
  def ingest(path, opts, seen) do
    files = files(path)
    total = Enum.reduce(files, 0, &(file_size(&1) + &2))
    started = System.monotonic_time()
    known? = fn hash -> :ets.member(seen, hash) end
    progress = Progress.new(path, total)

    {stats, progress} =
      Enum.reduce(files, {%{bytes: 0, chunks: 0, files: 0, stored: 0}, progress}, fn file,
                                                                                     {stats,
                                                                                      progress} ->
        try do
          {:file, file}
          |> Chunker.Pipeline.ingest!(Keyword.put(opts, :known?, known?))
          |> Enum.reduce({stats, progress}, fn chunk, {stats, progress} ->
            :ets.insert_new(seen, {chunk.hash, chunk.length})
            stored = if chunk.compressed, do: byte_size(chunk.compressed), else: 0

            {%{
               stats
               | bytes: stats.bytes + chunk.length,
                 chunks: stats.chunks + 1,
                 stored: stats.stored + stored
             }, Progress.advance(progress, chunk.length)}
          end)
          |> then(fn {stats, progress} -> {%{stats | files: stats.files + 1}, progress} end)
        rescue
          e in Chunker.Error ->
            Mix.shell().error("skipping #{file}: #{Exception.message(e)}")
            {stats, progress}
        end
      end)

    Progress.done(progress)

    seconds =
      System.convert_time_unit(System.monotonic_time() - started, :native, :microsecond) /
        1_000_000

    Map.put(stats, :seconds, seconds)
  end

  defp file_size(file) do
    case File.stat(file) do
      {:ok, %{size: size}} -> size
      _ -> 0
    end
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

  defp print_input(path, stats, true) do
    Mix.shell().info(json(Map.put(stats, :input, path)))
  end

  defp print_input(path, stats, false) do
    %{bytes: bytes, chunks: chunks, files: files, seconds: seconds, stored: stored} = stats
    mean = if chunks > 0, do: div(bytes, chunks), else: 0
    speed = if seconds > 0, do: bytes / 1_000_000 / seconds, else: 0.0

    Mix.shell().info(
      "#{path}: #{bytes} bytes in #{files} files, #{chunks} chunks, " <>
        "mean chunk #{mean} bytes, #{Float.round(speed, 1)} MB/s, stored #{stored} bytes"
    )
  end

  defp print_total(results, seen, json) do
    total = Enum.reduce(results, 0, &(&1.bytes + &2))
    stored = Enum.reduce(results, 0, &(&1.stored + &2))
    unique = :ets.foldl(fn {_, len}, acc -> acc + len end, 0, seen)
    ratio = if unique > 0, do: Float.round(total / unique, 3), else: 1.0

    if json do
      Mix.shell().info(
        json(%{
          total_bytes: total,
          unique_chunks: :ets.info(seen, :size),
          unique_bytes: unique,
          dedup_ratio: ratio,
          stored_bytes: stored
        })
      )
    else
      Mix.shell().info(
        "total: #{total} bytes, #{:ets.info(seen, :size)} unique chunks, unique bytes #{unique}, " <>
          "dedup ratio #{ratio}, stored #{stored} bytes"
      )
    end
  end

  # --- NAR mode ---

  defp run_nar(opts, paths) do
    json = Keyword.get(opts, :json, false)
    paths = if paths == [], do: [List.to_string(:code.root_dir())], else: paths
    chunk_opts = nar_chunk_options(opts)

    modes =
      [{"plain", false, false}] ++
        if(opts[:nar_aware], do: [{"nar-aware", true, false}], else: []) ++
        if(opts[:normalize_refs], do: [{"nar-aware+refs", true, true}], else: [])

    # Per mode: chunk hash => length seen so far, and bytes of patch lists.
    seen = Map.new(modes, fn {name, _, _} -> {name, %{chunks: %{}, patches: 0, bytes: 0}} end)

    seen =
      Enum.reduce(paths, seen, fn path, seen ->
        nar = nar_of(path)
        refs = if opts[:normalize_refs], do: store_references(nar), else: []

        Enum.reduce(modes, seen, fn {name, aware, normalize}, seen ->
          started = System.monotonic_time(:microsecond)
          mode_opts = [nar_aware: aware, references: if(normalize, do: refs, else: [])]

          %{chunks: chunks, patches: patches} =
            case Chunker.NAR.chunk(nar, mode_opts ++ chunk_opts) do
              {:ok, result} ->
                result

              {:error, reason} ->
                Mix.raise("#{path}: #{Exception.message(%Chunker.Error{reason: reason})}")
            end

          seconds = max(System.monotonic_time(:microsecond) - started, 1) / 1_000_000
          state = seen[name]
          patch_bytes = if normalize, do: byte_size(patches), else: 0

          {known, added} =
            Enum.reduce(chunks, {state.chunks, 0}, fn c, {known, added} ->
              if Map.has_key?(known, c.hash),
                do: {known, added},
                else: {Map.put(known, c.hash, c.length), added + c.length}
            end)

          print_nar_input(
            path,
            name,
            byte_size(nar),
            length(chunks),
            added + patch_bytes,
            seconds,
            json
          )

          Map.put(seen, name, %{
            chunks: known,
            patches: state.patches + patch_bytes,
            bytes: state.bytes + byte_size(nar)
          })
        end)
      end)

    for {name, _, _} <- modes, do: print_nar_total(name, seen[name], json)
    :ok
  end

  defp hash_option(nil), do: :sha256
  defp hash_option("sha256"), do: :sha256
  defp hash_option("blake3"), do: :blake3
  defp hash_option(other), do: Mix.raise("--hash must be sha256 or blake3, got: #{other}")

  defp nar_chunk_options(opts) do
    hash = hash_option(opts[:hash])

    opts
    |> Keyword.take([:min_size, :avg_size, :max_size, :normalization])
    |> Keyword.put(:hash, hash)
  end

  defp nar_of(path) do
    result =
      cond do
        String.ends_with?(path, ".nar") and File.regular?(path) -> File.read(path)
        match?({:ok, _}, File.lstat(path)) -> Chunker.NAR.dump(path)
        true -> Mix.raise("no such file or directory: #{path}")
      end

    case result do
      {:ok, nar} ->
        nar

      {:error, reason} ->
        Mix.raise("#{path}: #{Exception.message(%Chunker.Error{reason: reason})}")
    end
  end

  # The store-path hashes a NAR mentions, as Nix's reference scanner finds them.
  defp store_references(nar) do
    ~r"/nix/store/([0-9a-df-np-sv-z]{32})-"
    |> Regex.scan(nar, capture: :all_but_first)
    |> List.flatten()
    |> Enum.uniq()
  end

  defp print_nar_input(path, mode, bytes, chunks, added, seconds, true) do
    Mix.shell().info(
      json(%{
        input: path,
        mode: mode,
        bytes: bytes,
        chunks: chunks,
        added_bytes: added,
        seconds: seconds
      })
    )
  end

  defp print_nar_input(path, mode, bytes, chunks, added, seconds, false) do
    mean = if chunks > 0, do: div(bytes, chunks), else: 0
    pct = if bytes > 0, do: Float.round(100 * added / bytes, 1), else: 0.0

    Mix.shell().info(
      "#{path} [#{mode}]: #{bytes} NAR bytes, #{chunks} chunks, mean chunk #{mean} bytes, " <>
        "#{Float.round(bytes / 1_000_000 / seconds, 1)} MB/s, adds #{added} bytes (#{pct}%)"
    )
  end

  defp print_nar_total(mode, state, json) do
    unique = state.chunks |> Map.values() |> Enum.sum()
    stored = unique + state.patches
    ratio = if stored > 0, do: Float.round(state.bytes / stored, 3), else: 1.0

    if json do
      Mix.shell().info(
        json(%{
          mode: mode,
          total_bytes: state.bytes,
          unique_chunks: map_size(state.chunks),
          unique_bytes: unique,
          patch_bytes: state.patches,
          dedup_ratio: ratio
        })
      )
    else
      Mix.shell().info(
        "total [#{mode}]: #{state.bytes} NAR bytes, #{map_size(state.chunks)} unique chunks, " <>
          "unique bytes #{unique} + patches #{state.patches}, dedup ratio #{ratio}"
      )
    end
  end

  # A flat JSON object of numbers and strings (no JSON library here).
  defp json(map) do
    body =
      map
      |> Enum.sort()
      |> Enum.map_join(",", fn {k, v} -> ~s("#{k}":) <> json_value(v) end)

    "{" <> body <> "}"
  end

  defp json_value(v) when is_integer(v), do: Integer.to_string(v)
  defp json_value(v) when is_float(v), do: :erlang.float_to_binary(v, [:short])

  defp json_value(v) when is_binary(v) do
    escaped =
      v
      |> String.replace("\\", "\\\\")
      |> String.replace("\"", "\\\"")
      |> String.replace(~r/[\x00-\x1f]/, fn <<c>> ->
        "\\u" <> String.pad_leading(Integer.to_string(c, 16), 4, "0")
      end)

    ~s("#{escaped}")
  end
end

defmodule Mix.Tasks.Chunker.Ingest.Progress do
  @moduledoc false
  # Progress on stderr: a redrawn bar with MB/s and ETA on a terminal,
  # otherwise a plain line about once a second.

  defstruct [:label, :total, :tty, :started, :last, done: 0]

  def new(label, total) do
    now = System.monotonic_time(:millisecond)
    tty = match?({:ok, _}, :io.columns(:standard_error))
    %__MODULE__{label: label, total: total, tty: tty, started: now, last: now}
  end

  def advance(p, bytes) do
    p = %{p | done: p.done + bytes}
    now = System.monotonic_time(:millisecond)
    interval = if p.tty, do: 100, else: 1000

    if now - p.last >= interval do
      draw(p, now)
      %{p | last: now}
    else
      p
    end
  end

  def done(%{tty: true} = p) do
    draw(p, System.monotonic_time(:millisecond))
    IO.write(:stderr, "\n")
  end

  def done(_), do: :ok

  defp draw(p, now) do
    elapsed = max(now - p.started, 1) / 1000
    rate = p.done / elapsed
    mbs = :erlang.float_to_binary(rate / 1_000_000, decimals: 1)

    eta =
      if rate > 0 and p.total > p.done,
        do: "#{round((p.total - p.done) / rate)}s",
        else: "0s"

    if p.tty do
      frac = if p.total > 0, do: min(p.done / p.total, 1.0), else: 1.0
      width = 30
      filled = round(frac * width)
      bar = String.duplicate("#", filled) <> String.duplicate("-", width - filled)
      pct = :erlang.float_to_binary(frac * 100, decimals: 1)

      IO.write(
        :stderr,
        "\r[#{bar}] #{pct}% #{mb(p.done)}/#{mb(p.total)} MB #{mbs} MB/s ETA #{eta} "
      )
    else
      IO.write(
        :stderr,
        "  ... #{p.label}: #{mb(p.done)}/#{mb(p.total)} MB, #{mbs} MB/s, ETA #{eta}\n"
      )
    end
  end

  defp mb(bytes), do: :erlang.float_to_binary(bytes / 1_000_000, decimals: 1)
end
