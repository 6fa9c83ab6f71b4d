defmodule Chunker.NARTest do
  use ExUnit.Case, async: true
  doctest Chunker.NAR

  alias Chunker.NAR

  @moduletag :tmp_dir

  # A random tree: files (some executable), symlinks, nested and empty dirs,
  # odd names.
  defp tree(path, 0), do: leaf(path)

  defp tree(path, depth) do
    case :rand.uniform(5) do
      n when n <= 2 ->
        leaf(path)

      _ ->
        File.mkdir!(path)

        for _ <- 1..:rand.uniform(5)//1,
            name = name(),
            match?({:error, _}, File.lstat(Path.join(path, name))) do
          tree(Path.join(path, name), depth - 1)
        end
    end
  end

  defp leaf(path) do
    if :rand.uniform(4) == 1 do
      File.ln_s!(Enum.random(["../x", "/nix/store/abc-foo", name()]), path)
    else
      File.write!(path, :rand.bytes(Enum.random([0, 1, 7, 8, 9, 100, 5000])))
      File.chmod!(path, Enum.random([0o644, 0o755, 0o700, 0o444]))
    end
  end

  defp name do
    Enum.random([
      fn -> Base.url_encode64(:rand.bytes(:rand.uniform(6)), padding: false) end,
      fn -> Enum.random([" ", "\n", "-rf", "...", "a.", "été", "Z z", "\x01"]) end,
      fn -> String.duplicate("x", 200) end
    ]).()
  end

  defp nix_dump(path) do
    {nar, 0} = System.cmd("nix-store", ["--dump", path])
    nar
  end

  test "random trees are byte-identical to nix-store --dump", %{tmp_dir: tmp} do
    :rand.seed(:exsss, {1, 2, 3})

    for i <- 1..25 do
      root = Path.join(tmp, "t#{i}")
      tree(root, 3)
      assert {:ok, nar} = NAR.dump(root)
      assert nar == nix_dump(root), "tree #{i}"
      assert {:ok, size} = NAR.dump_to_file(root, root <> ".nar")
      assert size == byte_size(nar)
      assert File.read!(root <> ".nar") == nar
    end
  end

  test "errors", %{tmp_dir: tmp} do
    fifo = Path.join(tmp, "fifo")
    {_, 0} = System.cmd("mkfifo", [fifo])
    assert NAR.dump(fifo) == {:error, {:unsupported_file_type, fifo}}
    assert NAR.dump_to_file(fifo, fifo <> ".nar") == {:error, {:unsupported_file_type, fifo}}
    refute File.exists?(fifo <> ".nar")
    assert_raise Chunker.Error, ~r/enoent/, fn -> NAR.dump!(Path.join(tmp, "missing")) end
    assert_raise ArgumentError, ~r/expected a path/, fn -> NAR.dump(42) end
  end
end
