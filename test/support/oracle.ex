defmodule Chunker.Test.Oracle do
  @moduledoc false
  # Runs the `fastcdc` crate's v2020 (native/chunker_core/examples/fastcdc_oracle.rs)
  # on the same bytes: the independent oracle for cut points.

  @manifest "native/Cargo.toml"

  def binary do
    path = Path.join(["native", "target", "fast", "examples", "fastcdc_oracle"])

    unless File.exists?(path) do
      {out, status} =
        System.cmd(
          "cargo",
          ~w(build --quiet --profile fast -p chunker_core --example fastcdc_oracle --manifest-path #{@manifest}),
          stderr_to_stdout: true
        )

      if status != 0, do: raise("building the fastcdc oracle failed:\n#{out}")
    end

    Path.expand(path)
  end

  @doc "Cut points `[{offset, length}]` of the fastcdc crate for `data`."
  def cuts(data, min, avg, max, level) do
    dir = Path.join(System.tmp_dir!(), "chunker-oracle-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    input = Path.join(dir, "in")
    File.write!(input, data)

    try do
      {out, 0} =
        System.cmd("sh", ["-c", ~s("$0" #{min} #{avg} #{max} #{level} < "$1"), binary(), input])

      for line <- String.split(out, "\n", trim: true) do
        [offset, length] = String.split(line)
        {String.to_integer(offset), String.to_integer(length)}
      end
    after
      File.rm_rf!(dir)
    end
  end
end
