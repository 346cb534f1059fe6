# Mix started sysport with config/runtime.exs: a scratch data_dir, the
# recording clock. The services are shared by every test, so none is async.
{:ok, _} = Application.ensure_all_started(:sysport)
ExUnit.start()
