using System.Collections.Concurrent;
using MassTransit.Patterns.FaultHost;
using MassTransit.Patterns.FaultHost.Messages;
using MassTransit.Patterns.RabbitMQ.Tests.Accounting;
using MassTransit.Patterns.RabbitMQ.Tests.EventForwarding;
using MassTransit.Patterns.RabbitMQ.ThreadDelegate;
using MassTransit.Patterns.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MassTransit.Patterns.RabbitMQ.Tests.Cluster;

/// <summary>
/// The thread delegate's stripes on the 3-node cluster: quorum stripe queues with a single active consumer, three app
/// instances (separate processes, each connected first to a different node). Mid-run one app process is killed (SIGKILL)
/// and one broker node (kill -9, then restarted). Each consumption is recorded in PostgreSQL before its acknowledgement,
/// so the order of first consumptions of a key is known across processes.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ThreadDelegateStripesOnClusterTests(ITestOutputHelper output)
{
    static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task An_app_process_and_a_broker_node_killed_leave_every_key_in_order_and_every_message_consumed()
    {
        const int stripes = 6, keys = 30, perKey = 40;
        var ports = ServiceEnvironment.RabbitClusterAmqpPorts;
        var prefix = $"td-cluster-{Guid.NewGuid():N}"[..22];
        var database = new NpgsqlConnectionStringBuilder(ServiceEnvironment.PostgresConnectionString)
        { Database = $"stripes_{Guid.NewGuid():N}"[..24], Timeout = 5, CommandTimeout = 10 }.ConnectionString;
        await CreateDatabaseAsync(database);

        StripeAppSettings Instance(int i) => new()
        {
            // Instance i connects first to node i, then to the others.
            ClusterPorts = [.. ports.Skip(i), .. ports.Take(i)],
            RabbitUser = ServiceEnvironment.RabbitUser,
            RabbitPassword = ServiceEnvironment.RabbitPassword,
            Postgres = database,
            Prefix = prefix,
            Stripes = stripes,
            Instance = $"app-{i + 1}"
        };

        var apps = new List<FaultHostProcess>();
        ServiceProvider? producer = null;
        try
        {
            for (var i = 0; i < 3; i++)
                apps.Add(await FaultHostProcess.StartAsync(Instance(i).ToArguments()));
            producer = new ServiceCollection()
                .AddMassTransit(x => x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(ServiceEnvironment.RabbitHost, (ushort)ports[2], "/", h =>
                    {
                        h.Username(ServiceEnvironment.RabbitUser);
                        h.Password(ServiceEnvironment.RabbitPassword);
                        h.UseCluster(c =>
                        {
                            foreach (var port in ports.Reverse())
                                c.Node($"{ServiceEnvironment.RabbitHost}:{port}");
                        });
                    });
                    cfg.UseThreadDelegateStripeRouting<StripedOrder>(stripes, m => m.Key);
                }))
                .BuildServiceProvider(true);
            var bus = producer.GetRequiredService<IBusControl>();
            await bus.StartAsync();

            // One lane per key publishes its messages in order; a publish the broker did not confirm is sent again before the next.
            var published = new ConcurrentDictionary<(string, int), int>();
            var retries = 0;
            var total = keys * perKey;
            var publishing = Task.WhenAll(Enumerable.Range(0, keys).Select(async k =>
            {
                var key = $"account-{k}";
                for (var seq = 0; seq < perKey; seq++)
                {
                    while (true)
                    {
                        try
                        {
                            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                            await bus.Publish(new StripedOrder(key, seq), timeout.Token);
                            published[(key, seq)] = 1;
                            break;
                        }
                        catch (Exception) when (!published.ContainsKey((key, seq)))
                        {
                            Interlocked.Increment(ref retries);
                            await Task.Delay(200);
                        }
                    }
                    await Task.Delay(15);
                }
            }));

            await Eventually.True(async () => await FirstConsumedAsync(database) >= total / 4, Recovery, "a quarter of the messages is consumed");
            // The app with the most consumptions so far (the active consumer of the most stripes) dies first.
            var busiest = await BusiestInstanceAsync(database);
            await apps[busiest].KillAsync();
            // Then, while the stripes move to another instance, the node that leads stripe 0's Raft group.
            var node = await ClusterManagement.LeaderAsync(RabbitMqThreadDelegateStripes.StripeQueueName(prefix, 0));
            await ClusterManagement.AllMembersOnlineAsync(RabbitMqThreadDelegateStripes.StripeQueueName(prefix, 0));
            var consumedAtAppKill = await FirstConsumedAsync(database);
            await ServiceEnvironment.RunServicesScriptAsync($"cluster-kill {node}");
            var consumedAtNodeKill = await FirstConsumedAsync(database);
            output.WriteLine($"killed app-{busiest + 1} at {consumedAtAppKill} of {total} consumed, then cluster node {node} at {consumedAtNodeKill}");
            await Task.WhenAll(publishing);
            await ServiceEnvironment.RunServicesScriptAsync($"cluster-start {node}");

            await Eventually.True(async () => await FirstConsumedAsync(database) >= total, Recovery, "every message is consumed", TimeSpan.FromMilliseconds(250));
            var rows = await ConsumptionsAsync(database);
            var firsts = rows.GroupBy(r => (r.Key, r.Seq)).Select(g => g.OrderBy(r => r.Id).First()).ToList();
            var violations = firsts.GroupBy(r => r.Key)
                .Sum(g => g.OrderBy(r => r.Id).Select(r => r.Seq).Zip(g.OrderBy(r => r.Id).Select(r => r.Seq).Skip(1)).Count(p => p.Second < p.First));
            var byInstance = rows.GroupBy(r => r.Instance).ToDictionary(g => g.Key, g => g.Count());
            output.WriteLine($"published {total} (publish retries {retries}), consumptions {rows.Count} (first {firsts.Count}, again {rows.Count - firsts.Count}), " +
                $"by instance {string.Join(", ", byInstance.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"))}, order violations {violations}");

            Assert.True(consumedAtNodeKill < total, $"the broker node died mid-run ({consumedAtNodeKill} of {total} consumed by then)");
            Assert.Equal(total, firsts.Count);
            Assert.Equal(
                Enumerable.Range(0, keys).SelectMany(k => Enumerable.Range(0, perKey).Select(s => ($"account-{k}", s))).Order(),
                firsts.Select(r => (r.Key, r.Seq)).Order());
            Assert.Equal(0, violations);
            Assert.True(byInstance.Count >= 2, "the stripes moved to another instance after the kill");

            // Nothing left anywhere: every stripe queue (and its _error/_skipped) empty on the cluster.
            var account = new MessageAccount().Sent(total, "published, one per (key, seq)").Place("consumed, first time per (key, seq)", () => (long)firsts.Count, Expect.Exactly(total));
            var reader = RabbitNode.AmqpOnly("cluster", ports[0], ServiceEnvironment.RabbitUser, ServiceEnvironment.RabbitPassword);
            for (var i = 0; i < stripes; i++)
                account.Endpoint(RabbitMqThreadDelegateStripes.StripeQueueName(prefix, i), Expect.Empty, reader);
            await account.AssertAllAccountedAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            await ServiceEnvironment.RunServicesScriptAsync("start");
            foreach (var app in apps)
                await app.DisposeAsync();
            if (producer is not null)
            {
                await producer.GetRequiredService<IBusControl>().StopAsync();
                await producer.DisposeAsync();
            }
            NpgsqlConnection.ClearAllPools();
            await DropDatabaseAsync(database);
            await ClusterManagement.DeleteQueuesAsync([.. Enumerable.Range(0, stripes).Select(i => RabbitMqThreadDelegateStripes.StripeQueueName(prefix, i))]);
        }
    }

    sealed record Consumption(long Id, string Key, int Seq, string Instance, bool Redelivered);

    static async Task CreateDatabaseAsync(string database)
    {
        var builder = new NpgsqlConnectionStringBuilder(database);
        var name = builder.Database!;
        builder.Database = "postgres";
        await using (var admin = new NpgsqlConnection(builder.ConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
            await create.ExecuteNonQueryAsync();
        }
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var table = new NpgsqlCommand(StripeAppSettings.TableSql, connection);
        await table.ExecuteNonQueryAsync();
    }

    static async Task DropDatabaseAsync(string database)
    {
        var builder = new NpgsqlConnectionStringBuilder(database);
        var name = builder.Database!;
        builder.Database = "postgres";
        await using var admin = new NpgsqlConnection(builder.ConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    static async Task<int> FirstConsumedAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM (SELECT DISTINCT key, seq FROM consumptions) d", connection);
        return Convert.ToInt32(await command.ExecuteScalarAsync());
    }

    /// <summary>The index (0..2) of the instance that consumed the most so far.</summary>
    static async Task<int> BusiestInstanceAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT instance FROM consumptions GROUP BY instance ORDER BY count(*) DESC LIMIT 1", connection);
        var instance = (string)(await command.ExecuteScalarAsync())!;
        return int.Parse(instance["app-".Length..]) - 1;
    }

    static async Task<List<Consumption>> ConsumptionsAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, key, seq, instance, redelivered FROM consumptions ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<Consumption>();
        while (await reader.ReadAsync())
            rows.Add(new Consumption(reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3), reader.GetBoolean(4)));
        return rows;
    }
}
