defmodule Chunker.PipelineIngestTaskTest do
  use ExUnit.Case, async: false
  import ExUnit.CaptureIO

  @tag :tmp_dir
  test "--json: one object per input and a total; known chunks are not stored twice",
       %{tmp_dir: dir} do
    content = :crypto.strong_rand_bytes(400_000)
    File.write!(Path.join(dir, "one.bin"), content)
    File.write!(Path.join(dir, "two.bin"), content)

    lines =
      capture_io(fn ->
        Mix.Tasks.Chunker.Ingest.run([
          dir,
          "--json",
          "--compress",
          "none",
          "--avg-size",
          "65536",
          "--min-size",
          "16384",
          "--max-size",
          "262144"
        ])
      end)
      |> String.split("\n", trim: true)

    assert [input, total] = lines
    assert input =~ ~s("bytes":800000)
    assert input =~ ~s("files":2)
    # The second file's chunks are all known: only the first one is stored.
    assert input =~ ~s("stored":400000)
    assert total =~ ~s("dedup_ratio":2.0)
    assert total =~ ~s("unique_bytes":400000)
  end

  test "bad --compress is refused" do
    assert_raise Mix.Error, ~r/--compress/, fn ->
      Mix.Tasks.Chunker.Ingest.run(["--compress", "gzip", "lib"])
    end
  end
end
