defmodule Chunker.Chunk do
  @moduledoc """
  One content-defined chunk.

    * `offset` - absolute byte offset in the input (or stream)
    * `length` - size in bytes
    * `hash` - raw 32-byte digest (SHA-256 or BLAKE3), `nil` with `hash: :none`
    * `data` - the chunk's bytes with `payloads: true` (a sub-binary of the
      input where possible, so no copy), otherwise `nil`
    * `compressed` - from `Chunker.Pipeline.ingest/2`: the bytes to store
      (compressed with `compression`), `nil` when the store already has the
      chunk (`:known?`)
    * `compression` - the algorithm of `compressed` (`:none` if stored
      raw), `nil` when `compressed` is
  """
  defstruct [:offset, :length, :hash, :data, compressed: nil, compression: nil]

  @type t :: %__MODULE__{
          offset: non_neg_integer(),
          length: non_neg_integer(),
          hash: <<_::256>> | nil,
          data: binary() | nil,
          compressed: binary() | nil,
          compression: atom() | nil
        }

  @doc false
  def from_tuples(tuples), do: Enum.map(tuples, &from_tuple/1)

  defp from_tuple({offset, length, hash, data}),
    do: %__MODULE__{offset: offset, length: length, hash: hash, data: data}
end
