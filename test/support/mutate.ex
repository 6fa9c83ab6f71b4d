defmodule Chunker.Test.Mutate do
  @moduledoc false
  # Random single edits of binaries for fuzz-style test loops; seed `:rand` first.

  import Bitwise

  @doc """
  One random edit of `bin`: flip a bit, replace, delete or insert a byte,
  truncate, or (when given) insert one of `tokens`, e.g. separators of the
  format under test.
  """
  @spec mutate(binary(), [binary()]) :: binary()
  def mutate(bin, tokens \\ [])

  def mutate(<<>>, tokens), do: Enum.random([<<:rand.uniform(256) - 1>> | tokens])

  def mutate(bin, tokens) do
    pos = :rand.uniform(byte_size(bin)) - 1
    <<pre::binary-size(pos), byte, post::binary>> = bin

    case :rand.uniform(if tokens == [], do: 5, else: 6) do
      1 -> pre <> <<bxor(byte, 1 <<< (:rand.uniform(8) - 1))>> <> post
      2 -> pre <> <<:rand.uniform(256) - 1>> <> post
      3 -> pre <> post
      4 -> pre <> <<:rand.uniform(256) - 1, byte>> <> post
      5 -> pre
      6 -> pre <> Enum.random(tokens) <> <<byte>> <> post
    end
  end
end
