"""The replay-evaluation node: plays InstructPart, a table-top task set or a recording to a running
perception node over DDS, scores what comes back, writes the report, and exits.

A thin adapter: parameters (``replay_parameters``) in, ``replay_session.replay_with_node``
does the work. ``ros2 launch instructpart_ros replay_eval.launch.py`` starts it with a
perception node; see docs/replay_evaluation.md.
"""
from __future__ import annotations

import sys

from rcl_interfaces.msg import ParameterDescriptor

from .perception_client import PerceptionClient
from .replay_parameters import REPLAY_PARAMETERS, replay_config, replay_values
from .replay_session import replay_with_node, summary_line
from .replay_transport import TopicTransport

NODE_NAME = "replay_eval_node"


def main(args=None) -> int:
    """Entry point of ``ros2 run instructpart_ros replay_eval_node``; exit status 0 when the report is written."""
    transport = TopicTransport()
    client = PerceptionClient(NODE_NAME, args=sys.argv if args is None else args, on_result=transport.on_result)
    node, logger = client.node, client.node.get_logger()
    try:
        for spec in REPLAY_PARAMETERS:
            constraints = f"one of {list(spec.choices)}" if spec.choices else ""
            node.declare_parameter(spec.name, spec.default, ParameterDescriptor(
                description=spec.description, additional_constraints=constraints, dynamic_typing=True))
        values = replay_values({spec.name: node.get_parameter(spec.name).value for spec in REPLAY_PARAMETERS})
        client.use_node_name(values["perception_node"])
        config = replay_config(values)
        logger.info(f"replaying {config.source} {config.dataset} to /{values['perception_node']} into {config.out}")
        metrics = replay_with_node(config, client, transport, values["startup_timeout"])
        logger.info(f"done: {summary_line(metrics)}; report in {config.out}/metrics.md")
        return 0
    except (ValueError, RuntimeError, OSError) as error:
        logger.error(f"replay failed: {error}")
        return 1
    except KeyboardInterrupt:
        logger.warning("interrupted: finished samples are in results.jsonl; run again to continue")
        return 130
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
