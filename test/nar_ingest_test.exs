defmodule Chunker.NARIngestTest do
  # mix chunker.ingest in NAR mode (--nar, --nar-aware, --normalize-refs).
  use ExUnit.Case, async: false
  import ExUnit.CaptureIO

  @moduletag :tmp_dir
  @sizes ["--min-size", "1024", "--avg-size", "4096", "--max-size", "16384"]

  defp hash(seed),
    do:
      for(
        i <- 1..32,
        into: "",
        do: <<Enum.at(~c"0123456789abcdfghijklmnpqrsvwxyz", rem(seed * 7 + i * 13, 32))>>
      )

  # A tree whose files embed references to `refs`.
  defp build(root, refs) do
    :rand.seed(:exsss, {1, 2, 3})
    File.mkdir_p!(Path.join(root, "lib"))

    for i <- 1..6 do
      body =
        for _ <- 1..60, into: "" do
          :rand.bytes(:rand.uniform(400)) <> "/nix/store/#{Enum.random(refs)}-dep/lib"
        end

      File.write!(Path.join(root, "lib/f#{i}.so"), body)
    end

    File.ln_s!("/nix/store/#{hd(refs)}-bash/bin/sh", Path.join(root, "sh"))
  end

  defp added(out, input, mode) do
    [_, n] =
      Regex.run(~r/#{Regex.escape(input)} \[#{Regex.escape(mode)}\]: .* adds (\d+) bytes/, out)

    String.to_integer(n)
  end

  test "a rebuild with other reference hashes adds only its patches when normalised",
       %{tmp_dir: dir} do
    old = Path.join(dir, "old")
    new = Path.join(dir, "new")
    build(old, Enum.map(1..4, &hash/1))
    build(new, Enum.map(5..8, &hash/1))
    nar_file = Path.join(dir, "new.nar")
    File.write!(nar_file, Chunker.NAR.dump!(new))

    out =
      capture_io(fn ->
        Mix.Tasks.Chunker.Ingest.run([old, nar_file, "--nar-aware", "--normalize-refs"] ++ @sizes)
      end)

    size = byte_size(File.read!(nar_file))
    assert added(out, old, "plain") == byte_size(Chunker.NAR.dump!(old))
    assert added(out, nar_file, "plain") > size * 0.9
    assert added(out, nar_file, "nar-aware") > size * 0.9
    normalised = added(out, nar_file, "nar-aware+refs")
    assert normalised > 0 and normalised < 0.02 * size
    assert out =~ ~r/total \[nar-aware\+refs\]: #{2 * size} NAR bytes/
    assert out =~ "total [plain]"
  end

  test "the same tree twice dedups fully; --nar alone is plain only", %{tmp_dir: dir} do
    a = Path.join(dir, "a")
    build(a, [hash(1)])
    out = capture_io(fn -> Mix.Tasks.Chunker.Ingest.run([a, a, "--nar", "--json"] ++ @sizes) end)
    lines = String.split(out, "\n", trim: true)
    assert length(lines) == 3
    assert Enum.at(lines, 1) =~ ~s("added_bytes":0)
    assert List.last(lines) =~ ~s("dedup_ratio":2.0)
    refute out =~ "nar-aware"
  end

  test "errors", %{tmp_dir: dir} do
    bad = Path.join(dir, "bad.nar")
    File.write!(bad, "not a nar at all")
    assert_raise Mix.Error, ~r/bad_magic/, fn -> Mix.Tasks.Chunker.Ingest.run([bad, "--nar"]) end
    assert_raise Mix.Error, fn -> Mix.Tasks.Chunker.Ingest.run(["/does/not/exist", "--nar"]) end
  end
end
