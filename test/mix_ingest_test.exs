defmodule Mix.Tasks.Chunker.IngestTest do
  use ExUnit.Case, async: false
  import ExUnit.CaptureIO

  @tag :tmp_dir
  test "reports per-input stats and dedup across inputs", %{tmp_dir: dir} do
    content = :crypto.strong_rand_bytes(300_000)
    File.mkdir_p!(Path.join(dir, "a/nested"))
    File.mkdir_p!(Path.join(dir, "b"))
    File.write!(Path.join(dir, "a/nested/one.bin"), content)
    File.write!(Path.join(dir, "a/small.txt"), "hello")
    File.write!(Path.join(dir, "b/copy.bin"), content)
    File.ln_s!(Path.join(dir, "a/nested/one.bin"), Path.join(dir, "b/link"))

    out =
      capture_io(fn ->
        Mix.Tasks.Chunker.Ingest.run([
          Path.join(dir, "a"),
          Path.join(dir, "b"),
          "--avg-size",
          "65536",
          "--min-size",
          "16384",
          "--max-size",
          "262144"
        ])
      end)

    assert out =~ ~r/a: 300005 bytes in 2 files, \d+ chunks, mean chunk \d+ bytes, [\d.]+ MB\/s/
    # The symlink is not followed: b holds one file.
    assert out =~ ~r/b: 300000 bytes in 1 files/
    assert out =~ "unique bytes 300005, dedup ratio 2.0"
  end

  test "bad flags are refused" do
    assert_raise Mix.Error, fn -> Mix.Tasks.Chunker.Ingest.run(["--hash", "md5", "lib"]) end
    assert_raise Mix.Error, fn -> Mix.Tasks.Chunker.Ingest.run(["/does/not/exist"]) end
  end
end
