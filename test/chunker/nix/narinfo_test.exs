defmodule Chunker.Nix.NarinfoTest do
  use ExUnit.Case, async: true
  import Chunker.Test.Mutate
  doctest Chunker.Nix.Narinfo

  alias Chunker.Nix
  alias Chunker.Nix.{Key, Narinfo}

  # A real narinfo from cache.nixos.org.
  @hello File.read!("test/fixtures/hello-2.10.narinfo")
  @cache_key "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="

  test "the real cache.nixos.org narinfo parses, round-trips and verifies" do
    n = Narinfo.parse!(@hello)
    assert n.store_path == "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"
    assert n.file_size == 41_232 and n.nar_size == 205_968 and n.compression == "xz"
    assert length(n.references) == 2
    assert Narinfo.serialize!(n) == @hello
    assert Narinfo.verify(n, [@cache_key])
    assert Narinfo.verify(n, [Key.parse_public!(@cache_key)])
    assert Key.verify(n, [@cache_key])
    refute Narinfo.verify(n, [])
    refute Narinfo.verify(n, [Key.public_key(Key.generate!("cache.nixos.org-1"))])
    refute Narinfo.verify(n, [Key.public_key(Key.generate!("other"))])

    # The NAR hash in another encoding is the same fingerprint.
    {:ok, sri} = Nix.convert_hash(n.nar_hash, :sri)
    {:ok, b16} = Nix.convert_hash(n.nar_hash, :base16)
    assert Narinfo.verify(%{n | nar_hash: sri}, [@cache_key])
    assert Narinfo.verify(%{n | nar_hash: b16}, [@cache_key])
    assert Narinfo.verify(%{n | references: Enum.reverse(n.references)}, [@cache_key])
  end

  test "changing any fingerprint field breaks the signature; other fields do not" do
    n = Narinfo.parse!(@hello)
    {:ok, {algo, digest}} = Nix.parse_hash(n.nar_hash)
    <<first, rest::binary>> = digest
    other_hash = Nix.format_hash({algo, <<Bitwise.bxor(first, 1), rest::binary>>})

    broken = [
      %{n | store_path: "/nix/store/w9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.11"},
      %{n | store_path: "/nix/store/x9yy7v61ipb5rx6i35zq1mvc2iqfmps1-hello-2.10"},
      %{n | nar_hash: other_hash},
      %{n | nar_size: n.nar_size + 1},
      %{n | nar_size: n.nar_size - 1},
      %{n | references: tl(n.references)},
      %{n | references: []},
      %{n | references: n.references ++ ["0000000000000000000000000000000a-x"]},
      %{n | references: ["9df65igwjmf2wbw0gbrrgair6piqjgmi-glibc-2.32" | tl(n.references)]}
    ]

    for b <- broken do
      refute Narinfo.verify(b, [@cache_key]), inspect(b)
    end

    for same <- [
          %{n | url: "nar/other.nar"},
          %{n | compression: "none"},
          %{n | file_hash: nil, file_size: nil},
          %{
            n
            | system: "x86_64-linux",
              deriver: "9df65igwjmf2wbw0gbrrgair6piqjgmi-hello-2.10.drv"
          }
        ] do
      assert Narinfo.verify(same, [@cache_key])
    end

    # A corrupted signature line also fails.
    [sig] = n.sigs
    bad_sig = String.replace(sig, "uP5K", "uP5L")
    refute Narinfo.verify(%{n | sigs: [bad_sig]}, [@cache_key])
    assert Narinfo.verify(%{n | sigs: ["garbage", bad_sig, sig]}, [@cache_key])
  end

  test "sign adds one Sig, verify needs a key of the same name" do
    a = Key.generate!("a-1")
    b = Key.generate!("b-1")
    n = %{Narinfo.parse!(@hello) | sigs: []}
    signed = n |> Narinfo.sign!(a) |> Narinfo.sign!(a) |> Narinfo.sign!(b)
    assert length(signed.sigs) == 2
    assert Narinfo.verify(signed, [Key.public_key(a)])
    assert Narinfo.verify(signed, [Key.public_key(b)])
    assert {:ok, ^signed} = Key.sign(signed, b)
    assert Narinfo.sign(%{n | nar_size: 0}, a) == {:error, :zero_nar_size}

    assert Narinfo.sign(%{n | nar_hash: "sha1:" <> String.duplicate("0", 32)}, a) ==
             {:error, :not_sha256}

    refute Narinfo.verify(%{signed | nar_size: 0}, [Key.public_key(a)])
    text = Narinfo.serialize!(signed)
    assert Narinfo.parse!(text) == signed
  end

  test "strict on malformed known fields, tolerant of unknown ones" do
    lines = String.split(@hello, "\n", trim: true)

    replace = fn i, line ->
      lines |> List.replace_at(i - 1, line) |> Enum.map_join(&(&1 <> "\n"))
    end

    cases = [
      {1, "StorePath: /nix/store/hello", {:invalid_store_path, {"StorePath", :too_short}}},
      {1, "StorePath /nix/store/x", :missing_colon},
      {2, ": x", :empty_field},
      {4, "FileHash: sha256:xyz", {:invalid_hash, {"FileHash", {:invalid_length, 3}}}},
      {5, "FileSize: 12 ", {:invalid_integer, "FileSize"}},
      {6, "NarHash: md4:00", {:invalid_hash, {"NarHash", {:unknown_algo, "md4"}}}},
      {7, "NarSize: 0", {:invalid_integer, "NarSize"}},
      {7, "NarSize: 99999999999999999999", {:invalid_integer, "NarSize"}},
      {8, "References: bad", {:invalid_store_path, {"References", :too_short}}},
      {9, "Sig: ", {:empty, "Sig"}},
      {2, "URL: ", {:empty, "URL"}}
    ]

    for {line, text, reason} <- cases do
      assert Narinfo.parse(replace.(line, text)) == {:error, {:narinfo, line, reason}}, text
    end

    # The second occurrence is the error.
    assert Narinfo.parse(replace.(3, "NarSize: 1")) ==
             {:error, {:narinfo, 7, {:duplicate, "NarSize"}}}

    assert Narinfo.parse(Enum.map_join(tl(lines), &(&1 <> "\n"))) ==
             {:error, {:narinfo, 0, {:missing, "StorePath"}}}

    assert Narinfo.parse("") == {:error, {:narinfo, 0, {:missing, "StorePath"}}}
    assert Narinfo.parse(@hello <> <<255>>) == {:error, {:narinfo, 10, :not_utf8}}

    with_unknown = @hello <> "X-Foo: bar: baz\nDeriver: unknown-deriver\nSystem: x86_64-linux\n"
    n = Narinfo.parse!(with_unknown)
    assert n.extra == [{"X-Foo", "bar: baz"}]
    assert n.deriver == nil and n.system == "x86_64-linux"
    assert Narinfo.parse!(Narinfo.serialize!(n)) == n
    assert Narinfo.parse!(String.trim_trailing(@hello, "\n")) == Narinfo.parse!(@hello)

    n = Narinfo.parse!(@hello)
    assert Narinfo.serialize(%{n | url: "a\nb"}) == {:error, {:narinfo, 0, {:newline, "URL"}}}
    assert Narinfo.serialize(%{n | url: nil}) == {:error, {:narinfo, 0, {:missing, "URL"}}}

    assert Narinfo.serialize(%{n | deriver: "bad"}) ==
             {:error, {:narinfo, 0, {:invalid_store_path, {"Deriver", :too_short}}}}

    assert_raise ArgumentError, ~r/wrong types/, fn -> Narinfo.serialize(%{n | nar_size: "1"}) end
    assert_raise ArgumentError, fn -> Narinfo.parse(:x) end
    assert_raise Chunker.Error, fn -> Narinfo.parse!("x") end
  end

  test "random narinfos round-trip; mutated ones give errors with a line, never crash" do
    :rand.seed(:exsss, {31, 32, 33})
    key = Key.generate!("prop-1")
    pub = Key.public_key(key)

    for _ <- 1..300 do
      n = Narinfo.sign!(random_narinfo(), key)
      text = Narinfo.serialize!(n)
      assert Narinfo.parse!(text) == n
      assert Narinfo.serialize!(Narinfo.parse!(text)) == text
      assert Narinfo.verify(n, [pub])
      nlines = length(String.split(text, "\n", trim: true))

      for _ <- 1..5 do
        mutated = mutate(text, [":", ": ", "\n", " ", "0"])

        case Narinfo.parse(mutated) do
          {:ok, m} ->
            assert {:ok, _} = Narinfo.serialize(m)
            # Still verifies only if the fingerprint fields are unchanged.
            if Narinfo.verify(m, [pub]),
              do: assert(Narinfo.fingerprint(m) == Narinfo.fingerprint(n))

          {:error, {:narinfo, line, _reason}} ->
            assert line in 0..(nlines + 1)
        end
      end
    end
  end

  defp random_hash_part do
    for _ <- 1..32, into: "", do: <<Enum.random(~c"0123456789abcdfghijklmnpqrsvwxyz")>>
  end

  defp random_name do
    chars = ~c"abcXYZ019+-._?="
    for _ <- 1..:rand.uniform(20), into: "", do: <<Enum.random(chars)>>
  end

  defp random_narinfo do
    base = random_hash_part() <> "-" <> random_name()
    nar = Nix.format_hash({:sha256, :rand.bytes(32)})

    %Narinfo{
      store_path: "/nix/store/" <> base,
      url: "nar/" <> random_hash_part() <> ".nar.zst",
      compression: Enum.random(["zstd", "xz", "none", "bzip2"]),
      file_hash: Enum.random([nil, Nix.format_hash({:sha256, :rand.bytes(32)})]),
      file_size: Enum.random([nil, :rand.uniform(1_000_000)]),
      nar_hash: nar,
      nar_size: :rand.uniform(1_000_000_000),
      references:
        Enum.sort(for _ <- 0..:rand.uniform(4)//1, do: random_hash_part() <> "-" <> random_name()),
      deriver: Enum.random([nil, random_hash_part() <> "-" <> random_name() <> ".drv"]),
      system: Enum.random([nil, "x86_64-linux"]),
      ca: Enum.random([nil, "fixed:r:" <> nar]),
      extra: Enum.random([[], [{"X-Extra", "value"}]])
    }
  end
end
