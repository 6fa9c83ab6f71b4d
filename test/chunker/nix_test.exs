defmodule Chunker.NixTest do
  use ExUnit.Case, async: true
  import Chunker.Test.Mutate
  doctest Chunker.Nix

  alias Chunker.Nix

  @sizes %{md5: 16, sha1: 20, sha256: 32, sha512: 64}
  @tmp Path.join(System.tmp_dir!(), "chunker_nix_test")

  # Runs a Nix CLI (the oracle) and returns its output lines.
  defp nix!(cmd, args) do
    {out, 0} = System.cmd(cmd, args, stderr_to_stdout: true)
    String.split(out, "\n", trim: true)
  end

  defp nix_hash_cmd!(sub, algo, hashes),
    do:
      nix!("nix", [
        "--extra-experimental-features",
        "nix-command",
        "hash",
        sub,
        "--type",
        to_string(algo) | hashes
      ])

  test "base32 and base16 equal nix-hash --to-base32/--to-base16 on random hashes" do
    :rand.seed(:exsss, {1, 2, 3})

    for {algo, size} <- @sizes do
      digests = for _ <- 1..40, do: :rand.bytes(size)
      hex = Enum.map(digests, &Base.encode16(&1, case: :lower))
      ours32 = Enum.map(digests, &Nix.base32_encode/1)
      assert nix!("nix-hash", ["--type", to_string(algo), "--to-base32" | hex]) == ours32
      assert nix!("nix-hash", ["--type", to_string(algo), "--to-base16" | ours32]) == hex

      for {d, s} <- Enum.zip(digests, ours32) do
        assert Nix.base32_decode(s) == {:ok, d}
        assert Nix.format_hash({algo, d}, :base32, prefix: false) == s

        assert Nix.format_hash({algo, d}, :base16, prefix: false) ==
                 Base.encode16(d, case: :lower)
      end
    end
  end

  test "base32 strings Nix rejects we reject, and the ones it accepts decode the same" do
    :rand.seed(:exsss, {3, 2, 1})
    alphabet = ~c"0123456789abcdfghijklmnpqrsvwxyz"

    for _ <- 1..40 do
      algo = Enum.random([:md5, :sha256, :sha512])
      s = Nix.base32_encode(:rand.bytes(@sizes[algo]))
      # Mostly a random first character (leftover bits), sometimes a bad one.
      c = Enum.random(alphabet ++ ~c"eotu")

      candidate =
        if :rand.uniform(4) == 1, do: s, else: <<c>> <> binary_part(s, 1, byte_size(s) - 1)

      {out, rc} =
        System.cmd("nix-hash", ["--type", to_string(algo), "--to-base16", candidate],
          stderr_to_stdout: true
        )

      case Nix.parse_hash(candidate, algo) do
        {:ok, {^algo, digest}} ->
          assert {rc, String.trim(out)} == {0, Base.encode16(digest, case: :lower)}

        {:error, {:invalid_hash, _}} ->
          assert rc != 0, "Nix accepted #{candidate}: #{out}"
      end
    end
  end

  test "SRI and base64 forms equal `nix hash to-sri/to-base64`, and every form parses" do
    :rand.seed(:exsss, {4, 5, 6})

    for {algo, size} <- @sizes do
      digests = for _ <- 1..20, do: :rand.bytes(size)
      b32 = Enum.map(digests, &Nix.format_hash({algo, &1}))

      assert nix_hash_cmd!("to-sri", algo, b32) ==
               Enum.map(digests, &Nix.format_hash({algo, &1}, :sri))

      assert nix_hash_cmd!("to-base64", algo, b32) ==
               Enum.map(digests, &Nix.format_hash({algo, &1}, :base64, prefix: false))

      for d <- digests, enc <- [:base16, :base32, :base64, :sri] do
        assert Nix.parse_hash(Nix.format_hash({algo, d}, enc)) == {:ok, {algo, d}}
        bare = Nix.format_hash({algo, d}, enc, prefix: false)
        assert Nix.parse_hash(bare, algo) == {:ok, {algo, d}}
        assert {:ok, _} = Nix.convert_hash(bare, :sri, algo: algo)
      end
    end
  end

  test "decoding mutated base32 and hash strings gives errors or consistent results, never crashes" do
    :rand.seed(:exsss, {7, 8, 9})
    alphabet = ~c"0123456789abcdfghijklmnpqrsvwxyz"

    for _ <- 1..2000 do
      d = :rand.bytes(:rand.uniform(70) - 1)
      s = Nix.base32_encode(d)
      mutated = mutate(s, ["0", "z", "e", "-"])

      case Nix.base32_decode(mutated) do
        {:ok, bytes} -> assert Nix.base32_encode(bytes) == mutated
        {:error, {:invalid_base32, _}} -> :ok
      end

      case Nix.parse_hash("sha256:" <> mutated) do
        {:ok, {:sha256, bytes}} -> assert byte_size(bytes) == 32
        {:error, {:invalid_hash, _}} -> :ok
      end
    end

    # Every single-character substitution outside the alphabet is rejected.
    s = Nix.base32_encode(:rand.bytes(32))

    for c <- 0..255, c not in alphabet do
      pos = :rand.uniform(byte_size(s)) - 1
      bad = binary_part(s, 0, pos) <> <<c>> <> binary_part(s, pos + 1, byte_size(s) - pos - 1)

      assert {:error, {:invalid_base32, {:invalid_char, {_, ^pos}}}} = Nix.base32_decode(bad)
    end
  end

  test "store paths parse with Nix's rules" do
    ok = "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-"

    assert Nix.parse_store_path!(ok <> ".a+-._?=Z0") ==
             {"w9yy7v61ipb5rx6i35zq1mvc2iqfmps1", ".a+-._?=Z0"}

    assert Nix.parse_store_path(ok <> String.duplicate("a", 212)) ==
             {:error, {:invalid_store_path, {:name_too_long, 212}}}

    assert {:ok, _} = Nix.parse_store_path(ok <> String.duplicate("a", 211))

    for {path, reason} <- [
          {"/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1", :too_short},
          {"/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1_x", :missing_dash},
          {"/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-", :empty_name},
          {"/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-a/b", :not_in_store},
          {"/tmp/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-a", :not_in_store},
          {"/nix/store/u9yy7v61ipb5rx6i35zq1mvc2iqfmps1-a", {:invalid_hash_char, "u"}},
          {ok <> "é", {:invalid_name_char, "é"}}
        ] do
      assert Nix.parse_store_path(path) == {:error, {:invalid_store_path, reason}}, path
      refute Nix.store_path?(path)
    end

    assert_raise Chunker.Error, fn -> Nix.parse_store_path!("/nix/store/x") end
  end

  test "fixed-output store paths equal nix-store --add-fixed (flat and recursive)" do
    :rand.seed(:exsss, {10, 11, 12})
    dir = Path.join(@tmp, "fixed-#{System.unique_integer([:positive])}")
    File.rm_rf!(dir)
    File.mkdir_p!(dir)
    store = Path.join(dir, "store")

    files =
      for i <- 1..6 do
        path = Path.join(dir, "f#{i}-x.y_z+=?")
        File.write!(path, :rand.bytes(:rand.uniform(5000) - 1))
        path
      end

    trees =
      for i <- 1..4 do
        root = Path.join(dir, "tree#{i}")
        File.mkdir_p!(Path.join(root, "sub"))
        File.write!(Path.join(root, "a"), :rand.bytes(:rand.uniform(3000)))
        File.write!(Path.join([root, "sub", "b"]), :rand.bytes(:rand.uniform(3000)))
        File.chmod!(Path.join([root, "sub", "b"]), 0o755)
        File.ln_s!("a", Path.join(root, "link"))
        root
      end

    flat = nix!("nix-store", ["--store", store, "--add-fixed", "sha256" | files])

    ours_flat =
      for f <- files do
        Nix.fixed_output_path!(Path.basename(f), {:sha256, :crypto.hash(:sha256, File.read!(f))})
      end

    assert ours_flat == flat

    rec =
      nix!("nix-store", [
        "--store",
        store,
        "--add-fixed",
        "--recursive",
        "sha256" | trees ++ files
      ])

    ours_rec =
      for p <- trees ++ files do
        {:ok, {h, _size}} = Nix.nar_sha256(p)
        Nix.fixed_output_path!(Path.basename(p), h, recursive: true)
      end

    assert ours_rec == rec

    sha1 = nix!("nix-store", ["--store", store, "--add-fixed", "sha1" | files])

    assert sha1 ==
             Enum.map(files, fn f ->
               Nix.fixed_output_path!(
                 Path.basename(f),
                 {:sha1, :crypto.hash(:sha, File.read!(f))}
               )
             end)

    File.rm_rf!(dir)
  end

  test "nar_hash equals nix-hash --type sha256 --base32 on random files and trees" do
    :rand.seed(:exsss, {13, 14, 15})
    dir = Path.join(@tmp, "nar-#{System.unique_integer([:positive])}")
    File.rm_rf!(dir)

    paths =
      for i <- 1..12 do
        root = Path.join(dir, "p#{i}")
        random_tree(root, 3)
        root
      end

    single = Path.join(dir, "file")
    File.write!(single, :rand.bytes(100_000))
    link = Path.join(dir, "link")
    File.ln_s!("some/target", link)
    paths = paths ++ [single, link]

    assert nix!("nix-hash", ["--type", "sha256", "--base32" | paths]) ==
             Enum.map(paths, &Nix.nar_hash!/1)

    {:ok, {{:sha256, _}, size}} = Nix.nar_sha256(single)
    assert size == byte_size(File.read!(single)) + 112
    assert Nix.nar_hash(Path.join(dir, "missing")) == {:error, {:file, :enoent}}
    assert_raise ArgumentError, fn -> Nix.nar_hash(:x) end
    File.rm_rf!(dir)
  end

  defp random_tree(root, depth) do
    cond do
      depth == 0 or :rand.uniform(4) == 1 ->
        File.mkdir_p!(Path.dirname(root))

        case :rand.uniform(5) do
          1 -> File.ln_s!("target-#{:rand.uniform(100)}", root)
          2 -> File.write!(root, "") && File.chmod!(root, 0o755)
          _ -> File.write!(root, :rand.bytes(:rand.uniform(3000) - 1))
        end

      true ->
        File.mkdir_p!(root)

        for i <- 1..:rand.uniform(4) do
          random_tree(
            Path.join(root, Enum.random(["a", "B", "z.", "x-#{i}", "é#{i}"]) <> "#{i}"),
            depth - 1
          )
        end
    end
  end

  test "fixed_output_path rejects bad names, references on flat paths and bad arguments" do
    h = {:sha256, :crypto.hash(:sha256, "")}
    assert Nix.fixed_output_path("", h) == {:error, {:invalid_store_path, :empty_name}}
    ref = "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"
    assert Nix.fixed_output_path("x", h, references: [ref]) == {:error, :references_not_allowed}

    assert {:ok, "/nix/store/" <> _} =
             Nix.fixed_output_path("x", h, recursive: true, references: [ref])

    assert Nix.fixed_output_path("x", h, recursive: true, references: ["/bad"]) ==
             {:error, {:invalid_store_path, :not_in_store}}

    assert Nix.fixed_output_path("x", {:sha256, "short"}) ==
             {:error, {:invalid_hash, {:invalid_length, 5}}}

    assert Nix.fixed_output_path(<<255>>, h) == {:error, {:invalid_store_path, :not_utf8}}
    assert Nix.parse_hash(<<"sha256:", 255>>) == {:error, {:invalid_hash, :not_utf8}}
    assert_raise ArgumentError, fn -> Nix.format_hash({:sha256, "short"}) end
    assert_raise ArgumentError, fn -> Nix.format_hash({:blake3, <<0::256>>}) end
    assert_raise ArgumentError, fn -> Nix.parse_hash(:x) end
    assert_raise ArgumentError, fn -> Nix.base32_encode(1) end
    assert_raise Chunker.Error, fn -> Nix.base32_decode!("e") end
  end
end
