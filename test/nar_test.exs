defmodule Chunker.NARTest do
  use ExUnit.Case, async: true
  import Chunker.Test.Mutate
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

  # The tree as {path, type, size, target} by walking the file system.
  defp walk(root), do: walk(root, "")

  defp walk(path, rel) do
    {:ok, stat} = File.lstat(path)

    case stat.type do
      :directory ->
        # list_dir_all: File.ls/1 skips names that are not valid UTF-8.
        {:ok, names} = :file.list_dir_all(path)
        names = names |> Enum.map(&IO.chardata_to_string/1) |> Enum.sort()

        [{rel, :directory, nil, nil}] ++
          Enum.flat_map(names, fn n ->
            walk(Path.join(path, n), if(rel == "", do: n, else: rel <> "/" <> n))
          end)

      :symlink ->
        {:ok, target} = :file.read_link_all(path)
        [{rel, :symlink, nil, IO.chardata_to_string(target)}]

      :regular ->
        type = if Bitwise.band(stat.mode, 0o100) != 0, do: :executable, else: :regular
        [{rel, type, stat.size, nil}]
    end
  end

  defp shape(entries), do: Enum.map(entries, &{&1.path, &1.type, &1.size, &1.target})

  defp pieces(bin, acc \\ [])
  defp pieces(<<>>, acc), do: Enum.reverse(acc)

  defp pieces(bin, acc) do
    n = min(byte_size(bin), Enum.random([1, 3, 8, 100, 4096]))
    <<piece::binary-size(n), rest::binary>> = bin
    pieces(rest, [piece | acc])
  end

  defp nix_restore(nar_path, dest) do
    {_, status} =
      System.cmd("sh", ["-c", ~s(nix-store --restore "$1" < "$2"), "sh", dest, nar_path])

    status == 0
  end

  test "reader and unpack round-trip random trees against nix-store", %{tmp_dir: tmp} do
    :rand.seed(:exsss, {4, 5, 6})

    for i <- 1..15 do
      root = Path.join(tmp, "t#{i}")
      tree(root, 3)
      nar = nix_dump(root)
      nar_path = root <> ".nar"
      File.write!(nar_path, nar)

      assert {:ok, entries} = NAR.entries(nar)
      assert shape(entries) == walk(root)
      assert NAR.stream_entries(pieces(nar)) |> Enum.to_list() == entries
      assert NAR.read_file(nar_path) == {:ok, entries}

      for %{type: t, offset: o, size: n, path: p} <- entries, t in [:regular, :executable] do
        assert binary_part(nar, o, n) ==
                 File.read!(if p == "", do: root, else: Path.join(root, p))
      end

      ours = root <> ".ours"
      assert NAR.unpack(nar, ours) == :ok
      assert nix_dump(ours) == nar
      assert NAR.unpack_file(nar_path, root <> ".ours2") == :ok
      assert nix_dump(root <> ".ours2") == nar
      assert nix_restore(nar_path, root <> ".nix")
      assert walk(root <> ".nix") == walk(ours)
      assert NAR.unpack(nar, ours) == {:error, {:file, :eexist}}
    end
  end

  test "one big feed with many tokens (normal, then dirty scheduler) gives every entry",
       %{tmp_dir: tmp} do
    root = Path.join(tmp, "many")
    File.mkdir!(root)
    for i <- 1..400, do: File.write!(Path.join(root, "f#{i}"), "#{i}")
    nar = NAR.dump!(root)
    {:ok, reader} = NAR.open_reader()
    assert {:ok, entries} = NAR.feed(reader, nar)
    assert NAR.finish(reader) == {:ok, byte_size(nar)}
    assert entries == NAR.entries!(nar)
    assert length(entries) == 401
  end

  test "mutated NARs give errors, never crash or write outside the target", %{tmp_dir: tmp} do
    :rand.seed(:exsss, {7, 8, 9})
    root = Path.join(tmp, "base")
    File.mkdir!(root)
    for i <- 1..4, do: tree(Path.join(root, "d#{i}"), 2)
    nar = nix_dump(root)

    for k <- 1..300 do
      m = mutate(nar)
      sandbox = Path.join(tmp, "s#{k}")
      File.mkdir!(sandbox)
      target = Path.join(sandbox, "t")

      case NAR.entries(m) do
        {:ok, entries} ->
          assert NAR.unpack(m, target) == :ok
          assert NAR.dump!(target) == m
          assert length(entries) == length(walk(target))

        {:error, {:nar, offset, reason}} = error ->
          assert is_integer(offset) and offset <= byte_size(m) and is_atom(reason)
          assert NAR.unpack(m, target) == error
          refute File.exists?(target)
          assert_raise Chunker.Error, fn -> NAR.entries!(m) end
      end

      assert File.ls!(sandbox) -- ["t"] == []
      File.rm_rf!(sandbox)
    end
  end

  @ref_chars ~c"0123456789abcdfghijklmnpqrsvwxyz"
  defp hash, do: for(_ <- 1..32, into: "", do: <<Enum.random(@ref_chars)>>)

  test "every chunking mode rebuilds the NAR byte for byte", %{tmp_dir: tmp} do
    :rand.seed(:exsss, {10, 11, 12})

    for i <- 1..8 do
      root = Path.join(tmp, "c#{i}")
      File.mkdir!(root)
      tree(Path.join(root, "t"), 3)
      refs = for _ <- 1..3, do: hash()

      body =
        for _ <- 1..200, into: "" do
          :rand.bytes(:rand.uniform(500)) <> "/nix/store/#{Enum.random(refs)}-dep/lib"
        end

      File.write!(Path.join(root, "lib.so"), body)
      nar = NAR.dump!(root)
      sizes = [min_size: 256, avg_size: 1024, max_size: 4096]

      for aware <- [false, true], meta <- [false, true], references <- [[], refs] do
        opts = sizes ++ [nar_aware: aware, metadata_chunks: meta, references: references]

        %{chunks: chunks, entries: entries, patches: patches} =
          NAR.chunk!(nar, [payloads: true] ++ opts)

        assert entries == NAR.entries!(nar)
        datas = Enum.map(chunks, & &1.data)
        assert NAR.rebuild(datas, patches, references) == {:ok, nar}
        assert Enum.all?(chunks, &(&1.hash == :crypto.hash(:sha256, &1.data)))
        assert Enum.all?(chunks, &(&1.length <= 4096))
        offsets = Enum.map(chunks, & &1.offset)
        assert offsets == Enum.scan([0 | Enum.map(chunks, & &1.length)], &+/2) |> Enum.drop(-1)

        if references == [] do
          assert IO.iodata_to_binary(datas) == nar
        else
          {:ok, normalized, ^patches} = NAR.normalize(nar, references)
          assert IO.iodata_to_binary(datas) == normalized
          refute Enum.any?(refs, &String.contains?(normalized, &1))
        end

        unless aware do
          plain = Chunker.chunk!(IO.iodata_to_binary(datas), sizes)

          assert Enum.map(plain, &{&1.offset, &1.length, &1.hash}) ==
                   Enum.map(chunks, &{&1.offset, &1.length, &1.hash})
        end
      end
    end
  end

  test "a real NAR (OTP's tools) rebuilds from chunks + patches in every mode", %{tmp_dir: tmp} do
    src = :code.lib_dir(:tools) |> List.to_string()
    nar = NAR.dump!(src)
    assert nar == nix_dump(src)
    entries = NAR.entries!(nar)
    assert length(entries) > 20

    # References that do occur: hashes planted in a copy of one real file.
    refs = for _ <- 1..2, do: hash()
    root = Path.join(tmp, "stdlib")
    :ok = NAR.unpack(nar, root)
    [beam | _] = Path.wildcard(Path.join(root, "ebin/*.beam"))

    File.write!(
      beam,
      File.read!(beam) <> "/nix/store/#{hd(refs)}-x /nix/store/#{List.last(refs)}-y"
    )

    planted = NAR.dump!(root)

    for nar <- [nar, planted],
        sizes <- [[min_size: 16_384, avg_size: 65_536, max_size: 262_144]],
        aware <- [false, true],
        references <- [[], refs] do
      opts = [nar_aware: aware, references: references, payloads: true] ++ sizes
      %{chunks: chunks, patches: patches} = NAR.chunk!(nar, opts)
      assert NAR.rebuild(Enum.map(chunks, & &1.data), patches, references) == {:ok, nar}
    end

    %{patches: patches} = NAR.chunk!(planted, nar_aware: true, references: refs)
    assert byte_size(patches) > 1
  end

  test "chunking errors" do
    assert {:error, {:nar, 0, :bad_magic}} = NAR.chunk(String.duplicate("x", 64))
    nar = NAR.dump!(__ENV__.file)
    assert {:error, {:invalid_options, {:nar_aware, _}}} = NAR.chunk(nar, nar_aware: 1)
    assert {:error, {:invalid_options, {:avg_size, _}}} = NAR.chunk(nar, avg_size: 3)

    assert {:error, {:invalid_options, {:normalization, _}}} =
             NAR.chunk(nar, normalization: 2 ** 64)

    assert {:error, {:invalid_reference, 1}} = NAR.chunk(nar, references: [hash(), "nope"])
    assert {:error, :invalid_patches} = NAR.rebuild([nar], <<1, 0, 5>>, [hash()])
    assert {:error, :invalid_patches} = NAR.rebuild(["short"], <<1, 0, 0>>, [hash()])
    assert_raise ArgumentError, fn -> NAR.chunk(:nar) end
    assert {:error, {:invalid_options, {:opts, _}}} = NAR.chunk(nar, :bad)
    assert {:error, {:invalid_options, {:bogus, _}}} = NAR.chunk(nar, bogus: 1)
    assert_raise ArgumentError, ~r/expected a reader/, fn -> NAR.finish(make_ref()) end
    assert_raise ArgumentError, ~r/expected a reader/, fn -> NAR.feed(make_ref(), "") end
    assert_raise ArgumentError, fn -> NAR.rebuild([1], "", []) end
    assert_raise ArgumentError, fn -> NAR.rebuild(["a" | "b"], "", []) end
    assert_raise ArgumentError, fn -> NAR.normalize("", ["a" | "b"]) end
    assert_raise Chunker.Error, ~r/bad_magic/, fn -> NAR.chunk!("garbage garbage garbage") end
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
