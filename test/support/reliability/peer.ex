defmodule Chunker.Reliability.Peer do
  @moduledoc false
  # A child BEAM (OTP 25 `:peer`, controlled over stdio, no distribution)
  # with this project's code paths, so a NIF crash or hang fails one test
  # instead of killing the test VM, and /proc figures are the child's own.

  @address_space_kib 8 * 1024 * 1024

  defp erl, do: System.find_executable("erl") |> to_charlist()

  @doc "Starts a peer in an empty temporary working directory; `args` are extra `erl` flags."
  def start!(args \\ []) do
    paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

    {:ok, peer, _node} =
      :peer.start(%{
        connection: :standard_io,
        # Address space capped, so a runaway allocation fails the peer,
        # not the machine.
        exec:
          {~c"/bin/sh",
           [~c"-c", ~c"ulimit -v #{@address_space_kib} && exec \"$0\" \"$@\"", erl()]},
        args: paths ++ Enum.map(args, &to_charlist/1),
        wait_boot: 60_000
      })

    dir = Path.join(System.tmp_dir!(), "chunker-peer-#{System.unique_integer([:positive])}")
    File.mkdir_p!(dir)
    {:ok, _} = call(peer, Application, :ensure_all_started, [:chunker])
    :ok = call(peer, File, :cd!, [dir])
    {peer, dir}
  end

  @doc "Stops the peer and removes its working directory."
  def stop({peer, dir}) do
    if Process.alive?(peer), do: :peer.stop(peer)
    File.rm_rf!(dir)
    :ok
  end

  @doc """
  `apply(m, f, a)` in the peer. A crash or hang of the peer VM raises with
  a clear message (the calling test fails; this VM lives on).
  """
  def call(peer, m, f, a, timeout \\ 120_000) do
    :peer.call(peer, m, f, a, timeout)
  catch
    kind, reason ->
      if Process.alive?(peer) and not match?({:timeout, _}, reason) do
        :erlang.raise(kind, reason, __STACKTRACE__)
      else
        raise "peer VM failed during #{inspect(m)}.#{f}/#{length(a)} " <>
                "(#{kind}: #{inspect(reason, limit: 10)}): a NIF crashed or hung the VM"
      end
  end

  @doc "A field of the OS process's /proc/PID/status in KiB (VmRSS, VmHWM...)."
  def status_kib(os_pid, field) do
    "/proc/#{os_pid}/status"
    |> File.read!()
    |> String.split("\n")
    |> Enum.find_value(fn line ->
      case String.split(line) do
        [key, kib, "kB"] when key == field <> ":" -> String.to_integer(kib)
        _ -> nil
      end
    end)
  end
end
