"""Delivery channels: e-mail (SMTP), chat group robots (WeCom, DingTalk, Feishu) and signed
outgoing webhooks (Standard Webhooks)."""

from notification.adapters.channels.base import DeliveryFailed, Outgoing, Sender
from notification.adapters.channels.robots import (
    DingTalkRobot,
    FeishuRobot,
    RobotSender,
    WeComRobot,
    batch,
    render_markdown,
    robot_sender,
    truncate,
)
from notification.adapters.channels.senders import ChannelSenders
from notification.adapters.channels.smtp import SmtpSender, message_id
from notification.adapters.channels.webhooks import WebhookSender, sign

__all__ = [
    "ChannelSenders",
    "DeliveryFailed",
    "DingTalkRobot",
    "FeishuRobot",
    "Outgoing",
    "RobotSender",
    "Sender",
    "SmtpSender",
    "WeComRobot",
    "WebhookSender",
    "batch",
    "message_id",
    "render_markdown",
    "robot_sender",
    "sign",
    "truncate",
]
