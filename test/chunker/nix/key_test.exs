defmodule Chunker.Nix.KeyTest do
  use ExUnit.Case, async: true
  import Chunker.Test.Mutate
  # Separators and characters of the key and signature formats, for mutations.
  @tokens ["=", ":", "A", "\n", " ", <<0>>]
  doctest Chunker.Nix.Key

  alias Chunker.Nix.{Key, Narinfo}

  @tmp Path.join(System.tmp_dir!(), "chunker_key_test")

  defp tmp_dir(tag) do
    dir = Path.join(@tmp, "#{tag}-#{System.unique_integer([:positive])}")
    File.rm_rf!(dir)
    File.mkdir_p!(dir)
    dir
  end

  defp nix(args),
    do:
      System.cmd("nix", ["--extra-experimental-features", "nix-command" | args],
        stderr_to_stdout: true
      )

  test "keys made by nix-store --generate-binary-cache-key load, sign and verify; signatures equal :crypto's" do
    dir = tmp_dir("nixkey")

    for i <- 1..3 do
      sec_file = Path.join(dir, "sec#{i}")
      pub_file = Path.join(dir, "pub#{i}")

      {_, 0} =
        System.cmd("nix-store", [
          "--generate-binary-cache-key",
          "nix-made-#{i}",
          sec_file,
          pub_file
        ])

      sec_text = File.read!(sec_file)
      pub_text = File.read!(pub_file)

      secret = Key.parse_secret!(sec_text)
      public = Key.parse_public!(pub_text)
      assert Key.format(secret) == sec_text
      assert Key.format(public) == pub_text
      assert Key.format(Key.public_key(secret)) == pub_text

      ["nix-made-" <> _, b64] = String.split(sec_text, ":")
      <<seed::binary-32, pub_raw::binary-32>> = Base.decode64!(b64)

      for _ <- 1..10 do
        msg = :crypto.strong_rand_bytes(:rand.uniform(300))
        sig = Key.sign(msg, secret)
        expected = :crypto.sign(:eddsa, :none, msg, [seed, :ed25519])
        assert sig == "nix-made-#{i}:" <> Base.encode64(expected)
        assert :crypto.verify(:eddsa, :none, msg, expected, [pub_raw, :ed25519])
        assert Key.verify(msg, sig, [public])
        assert Key.verify(msg, ["junk", sig], [pub_text])
        refute Key.verify(msg <> "x", sig, [public])
      end
    end

    File.rm_rf!(dir)
  end

  test "our keys and signatures are accepted by Nix (nix store sign / nix store verify on a file:// cache)" do
    dir = tmp_dir("interop")
    secret = Key.generate!("chunker-test-1")
    public = Key.public_key(secret)
    sec_file = Path.join(dir, "our.sec")
    File.write!(sec_file, Key.format(secret))

    # A path in a throwaway store, copied to a local binary cache.
    src = Path.join(dir, "payload")
    File.write!(src, :crypto.strong_rand_bytes(1000))
    store = Path.join(dir, "store")
    {out, 0} = System.cmd("nix-store", ["--store", store, "--add-fixed", "sha256", src])
    path = String.trim(out)
    cache = "file://#{dir}/cache?compression=none"
    {_, 0} = nix(["copy", "--no-check-sigs", "--from", store, "--to", cache, path])
    [narinfo_file] = Path.wildcard(Path.join([dir, "cache", "*.narinfo"]))

    # Without the CA line the path is not self-certifying: Nix needs a signature.
    unsigned = %{Narinfo.parse!(File.read!(narinfo_file)) | ca: nil}
    File.write!(narinfo_file, Narinfo.serialize!(unsigned))

    # Nix signs with our secret key file: the same signature as ours.
    {_, 0} = nix(["store", "sign", "--store", cache, "--key-file", sec_file, path])
    nix_signed = Narinfo.parse!(File.read!(narinfo_file))
    ours = Narinfo.sign!(unsigned, secret)
    assert nix_signed.sigs == ours.sigs
    assert Narinfo.verify(nix_signed, [public])

    # Nix verifies our signed narinfo with our public key, and rejects it otherwise.
    verify = fn narinfo, key ->
      File.write!(narinfo_file, Narinfo.serialize!(narinfo))
      {_, rc} = nix(["store", "verify", "--store", cache, "--trusted-public-keys", key, path])
      rc
    end

    assert verify.(ours, Key.format(public)) == 0
    assert verify.(ours, Key.format(Key.public_key(Key.generate!("chunker-test-1")))) != 0
    assert verify.(unsigned, Key.format(public)) != 0
    File.rm_rf!(dir)
  end

  test "secret key bytes never appear in inspect, errors or exception messages" do
    secret = Key.generate!("secret-test")
    text = Key.format(secret)
    [_, b64] = String.split(text, ":")
    raw = Base.decode64!(b64)
    <<seed::binary-32, _::binary>> = raw

    leaks? = fn output ->
      String.contains?(output, b64) or String.contains?(output, binary_part(b64, 0, 20)) or
        String.contains?(output, seed) or String.contains?(output, inspect(seed)) or
        String.contains?(output, inspect(:binary.bin_to_list(seed)))
    end

    refute leaks?.(inspect(secret))
    refute leaks?.(inspect(secret, structs: false) |> String.replace(~r/#Reference<[^>]*>/, ""))
    refute leaks?.(inspect([secret, %{k: secret}]))
    assert inspect(secret) =~ "secret-test"

    # Corrupted secret strings: errors name the problem, not the bytes.
    for bad <- [
          "secret-test:" <> binary_part(b64, 0, 80),
          "secret-test:" <> b64 <> "AA==",
          ":" <> b64,
          "secret-test:" <> Base.encode64(seed <> :crypto.strong_rand_bytes(32)),
          b64
        ] do
      assert {:error, {:invalid_key, _} = reason} = Key.parse_secret(bad)
      refute leaks?.(inspect(reason))
      error = assert_raise Chunker.Error, fn -> Key.parse_secret!(bad) end
      refute leaks?.(Exception.message(error))
    end

    error = assert_raise ArgumentError, fn -> Key.parse_secret(String.to_charlist(text)) end
    refute leaks?.(Exception.message(error))
  end

  test "mutated keys and signatures give errors, never crashes" do
    :rand.seed(:exsss, {21, 22, 23})
    secret = Key.generate!("mut")
    sec = Key.format(secret)
    pub = Key.format(Key.public_key(secret))
    sig = Key.sign("message", secret)

    for _ <- 1..1500 do
      for {s, parse} <- [
            {sec, &Key.parse_secret/1},
            {pub, &Key.parse_public/1},
            {sig, &Key.parse_signature/1}
          ] do
        mutated = mutate(s, @tokens)

        case parse.(mutated) do
          {:ok, _} -> :ok
          {:error, {kind, _}} when kind in [:invalid_key, :invalid_signature] -> :ok
        end
      end

      mutated_sig = mutate(sig, @tokens)
      valid = Key.verify("message", mutated_sig, [pub])
      assert valid == (mutated_sig == sig), inspect(mutated_sig)
    end
  end

  test "bad names and argument types" do
    for name <- ["", "a:b", "a b", "a\nb"] do
      assert {:error, {:invalid_key, _}} = Key.generate(name)
    end

    assert_raise ArgumentError, fn -> Key.generate(:name) end
    assert_raise ArgumentError, fn -> Key.public_key("k:secret") end
    assert_raise ArgumentError, fn -> Key.verify("message", []) end
    assert_raise ArgumentError, fn -> Key.sign(:msg, Key.generate!("k")) end
    assert_raise ArgumentError, fn -> Key.sign("msg", "k:secret") end
    assert_raise ArgumentError, fn -> Key.verify("m", "k:sig", [:nope]) end
    assert_raise ArgumentError, fn -> Key.verify("m", [1], []) end
    assert_raise Chunker.Error, fn -> Key.verify("m", "k:sig", ["not a key"]) end
    # Improper lists are argument errors, not FunctionClauseErrors.
    pub = Key.public_key(Key.generate!("k"))

    assert_raise ArgumentError, ~r/signature strings/, fn ->
      Key.verify("m", ["a" | "b"], [pub])
    end

    assert_raise ArgumentError, ~r/public keys/, fn -> Key.verify("m", "k:sig", [pub | pub]) end
    big = :binary.copy("x", 100_000)
    k = Key.generate!("k")
    assert Key.verify(big, Key.sign(big, k), [Key.public_key(k)])
  end
end
