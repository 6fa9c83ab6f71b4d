defmodule Chunker.MixProject do
  use Mix.Project

  @version "0.1.0"

  def project do
    [
      app: :chunker,
      version: @version,
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      compilers: [:chunker_cargo] ++ Mix.compilers(),
      deps: [],
      elixirc_paths: elixirc_paths(Mix.env()),
      aliases: aliases(),
      preferred_cli_env: ["test.all": :test],
      description:
        "Content-defined chunking (FastCDC 2020), hashing, compression and Nix formats for Nix binary caches",
      package: [
        licenses: ["MIT", "Apache-2.0"],
        files:
          ~w(lib native/chunker_core native/chunker_nif native/Cargo.toml native/Cargo.lock mix.exs README.md)
      ],
      test_coverage: [
        # The cargo compiler, the NIF stubs (replaced by the NIF at load),
        # the bench task and test helpers (run in child VMs) are not counted.
        ignore_modules: [
          Mix.Tasks.Compile.ChunkerCargo,
          Chunker.Native,
          Mix.Tasks.Chunker.Bench,
          Chunker.Test.Oracle,
          Chunker.Reliability.Hostile,
          Chunker.Reliability.Memory,
          Chunker.Reliability.Peer,
          Chunker.Reliability.Scheduler,
          Chunker.Reliability.Stress
        ],
        # `mix test --cover` (CI) fails under this total.
        summary: [threshold: 80]
      ]
    ]
  end

  defp elixirc_paths(:test), do: ["lib", "test/support"]
  defp elixirc_paths(_), do: ["lib"]

  # `mix test.all`: the Rust core's tests, then ExUnit. This is the README's
  # test command and what .ci/run runs.
  defp aliases do
    [
      "test.all": [
        "cmd cargo test --manifest-path native/Cargo.toml --workspace --exclude chunker_nif --profile fast",
        "test"
      ]
    ]
  end

  def application do
    [extra_applications: [:logger, :crypto], mod: {Chunker.Application, []}]
  end
end

defmodule Mix.Tasks.Compile.ChunkerCargo do
  @moduledoc """
  Builds the Rust NIF in `native/` with cargo and copies it to `priv/native/`.

  Cargo runs only when a file under `native/` (sources, manifests, lock file)
  is newer than the library in `priv/`, or the library was built with another
  profile. The cargo profile is `release` (fat LTO); set
  `CHUNKER_CARGO_PROFILE=fast` for quicker local rebuilds.
  """
  use Mix.Task.Compiler

  @native "native"
  @lib_name "chunker_nif"

  @impl true
  def run(_args) do
    dest = Path.join(["priv", "native", "lib#{@lib_name}.so"])
    profile = System.get_env("CHUNKER_CARGO_PROFILE", "release")

    if stale?(dest) or File.read(stamp(dest)) != {:ok, profile} do
      build!(dest, profile)
      File.write!(stamp(dest), profile)
      {:ok, []}
    else
      {:noop, []}
    end
  end

  defp stale?(dest) do
    case File.stat(dest, time: :posix) do
      {:ok, %{mtime: built}} -> Enum.any?(sources(), &(mtime(&1) > built))
      {:error, _} -> true
    end
  end

  # Names the cargo profile the library in `priv/` was built with.
  defp stamp(dest), do: dest <> ".profile"

  defp sources do
    ["Cargo.toml", "Cargo.lock", "*/Cargo.toml", "*/build.rs", "*/src/**/*.rs"]
    |> Enum.flat_map(&Path.wildcard(Path.join(@native, &1)))
  end

  defp mtime(path) do
    case File.stat(path, time: :posix) do
      {:ok, %{mtime: t}} -> t
      _ -> 0
    end
  end

  defp build!(dest, profile) do
    cargo =
      System.find_executable("cargo") ||
        Mix.raise("cargo not found: install Rust (https://rustup.rs)")

    Mix.shell().info("Compiling NIF (cargo, profile #{profile})")

    args = [
      "build",
      "--profile",
      profile,
      "-p",
      @lib_name,
      "--manifest-path",
      Path.join(@native, "Cargo.toml")
    ]

    case System.cmd(cargo, args, stderr_to_stdout: true, into: IO.stream(:stdio, :line)) do
      {_, 0} -> :ok
      {_, status} -> Mix.raise("cargo build failed with status #{status}")
    end

    built = Path.join([@native, "target", profile_dir(profile), built_name()])
    File.mkdir_p!(Path.dirname(dest))
    # Copy to a temp name and rename, so a loaded library is never overwritten in place.
    tmp = dest <> ".tmp"
    File.cp!(built, tmp)
    File.rename!(tmp, dest)
  end

  defp profile_dir("dev"), do: "debug"
  defp profile_dir(profile), do: profile

  defp built_name do
    case :os.type() do
      {:unix, :darwin} -> "lib#{@lib_name}.dylib"
      {:win32, _} -> "#{@lib_name}.dll"
      _ -> "lib#{@lib_name}.so"
    end
  end
end
